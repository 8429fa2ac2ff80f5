package reliability

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
)

// flakyProxy forwards TCP connections to the API server. An outage closes
// every connection and refuses new ones for a while: to the controller it
// is an API server restart (watches break, requests fail, then it answers).
type flakyProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &flakyProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.closeAll() })
	return p
}

func (p *flakyProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			_ = in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.track(in, out)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *flakyProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = true
	}
}

func (p *flakyProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

func (p *flakyProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// outage cuts the API server off for d.
func (p *flakyProxy) outage(d time.Duration) {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
	p.closeAll()
	time.Sleep(d)
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// An API server that goes away in the middle of reconciling (every
// connection dropped, requests refused for several seconds) does not need
// a controller restart: when it is back, every instance converges.
func TestAPIServerOutageDuringReconciliation(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(env.Config.Host)
	require.NoError(t, err)
	proxy := newFlakyProxy(t, u.Host)
	cfg := rest.CopyConfig(env.Config)
	cfg.Host = "https://" + proxy.ln.Addr().String()
	cfg.ServerName = u.Hostname() // the serving certificate names the real address
	startControllerWith(t, cfg)

	createRGD(t, configMapRGD("outage", "Outage"))
	waitRGDState(t, "outage", v1alpha1.ResourceGraphDefinitionStateActive)
	const n = 30
	for i := range n {
		createInstance(t, "Outage", "default", "o"+strconv.Itoa(i), map[string]any{"value": "v1"})
	}
	outageDone := make(chan struct{})
	go func() { defer close(outageDone); proxy.outage(outageDuration()) }()
	time.Sleep(outageDuration() / 5)
	// Changes made while the controller cannot reach the API server are
	// picked up once it can.
	for i := range n {
		u, err := get(kindGVK("Outage"), "default", "o"+strconv.Itoa(i))
		require.NoError(t, err)
		require.NoError(t, unstructured.SetNestedField(u.Object, "v2", "spec", "value"))
		require.NoError(t, env.Client.Update(ctx, u))
	}
	<-outageDone
	start := time.Now()
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		for i := range n {
			name := "o" + strconv.Itoa(i)
			u, err := get(kindGVK("Outage"), "default", name)
			if !assert.NoError(c, err) {
				return
			}
			assert.Equal(c, v1alpha1.InstanceStateActive, state(u), name)
			cm, err := get(configMapGVK, "default", name+"-cm")
			if assert.NoError(c, err) {
				assert.Equal(c, "v2", cm.Object["data"].(map[string]any)["value"], name)
			}
		}
	}, 2*timeout, 250*time.Millisecond)
	t.Logf("figure: %d instances updated during an API server outage of %s converged %.1fs after it ended, without a controller restart", n, outageDuration(), time.Since(start).Seconds())
}

func outageDuration() time.Duration {
	if v, err := time.ParseDuration(os.Getenv("KORVID_OUTAGE")); err == nil {
		return v
	}
	return 5 * time.Second
}

// Two instances rendering the same child: the second reports the conflict
// and neither writes the child again once they have converged (no
// flip-flop), nor rewrites its own status.
func TestConflictWithoutFlipFlop(t *testing.T) {
	ctx := context.Background()
	startController(t)
	createRGD(t, `
metadata: {name: contested}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Contested
    spec:
      target: string | required=true
  resources:
  - id: cm
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.spec.target}"}
      data: {owner: "${schema.metadata.name}"}
`)
	waitRGDState(t, "contested", v1alpha1.ResourceGraphDefinitionStateActive)
	createInstance(t, "Contested", "default", "first", map[string]any{"target": "shared"})
	waitInstanceState(t, "Contested", "default", "first", v1alpha1.InstanceStateActive)
	createInstance(t, "Contested", "default", "second", map[string]any{"target": "shared"})

	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		u, err := get(kindGVK("Contested"), "default", "second")
		if !assert.NoError(c, err) {
			return
		}
		assert.NotEqual(c, v1alpha1.InstanceStateActive, state(u))
		assert.True(c, conditionMentions(u.Object, "shared"), "a condition names the contested object")
	}, timeout, tick)

	// Let both settle, then count writes over the window.
	time.Sleep(2 * time.Second)
	rv := func() []string {
		var out []string
		for _, k := range []struct{ kind, name string }{{"cm", "shared"}, {"Contested", "first"}, {"Contested", "second"}} {
			gvk := configMapGVK
			if k.kind != "cm" {
				gvk = kindGVK(k.kind)
			}
			u, err := get(gvk, "default", k.name)
			require.NoError(t, err)
			out = append(out, u.GetResourceVersion())
		}
		return out
	}
	before := rv()
	window := flipFlopWindow()
	time.Sleep(window)
	after := rv()
	assert.Equal(t, before, after, "no writes to the child or the instances after convergence")
	cm := &metav1.PartialObjectMetadata{}
	cm.SetGroupVersionKind(configMapGVK)
	require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "shared"}, cm))
	t.Logf("figure: over %s after convergence, ConfigMap %s and instances first and second kept resourceVersions %v (zero writes: %v)",
		window, cm.Name, after, assert.ObjectsAreEqual(before, after))
}

func flipFlopWindow() time.Duration {
	if v, err := time.ParseDuration(os.Getenv("KORVID_FLIPFLOP_WINDOW")); err == nil {
		return v
	}
	return 15 * time.Second
}

func conditionMentions(obj map[string]any, s string) bool {
	st, _ := obj["status"].(map[string]any)
	conds, _ := st["conditions"].([]any)
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if msg, _ := m["message"].(string); msg != "" && strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
