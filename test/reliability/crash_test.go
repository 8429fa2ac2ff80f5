//go:build crash

package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/test/envtest"
)

// controllerProcess runs the controller binary and kills it on demand.
type controllerProcess struct {
	t         *testing.T
	bin, kcfg string
	logDir    string
	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{}
	starts    int
	kills     int
}

func (p *controllerProcess) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starts++
	log, err := os.Create(filepath.Join(p.logDir, fmt.Sprintf("controller-%02d.log", p.starts)))
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, "--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+p.kcfg)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("starting the controller: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = log.Close(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *controllerProcess) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.kills++
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

func (p *controllerProcess) stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// crashLoop kills the controller at random moments (0.3 to 2.5 s apart) and
// restarts it at once, until stop is closed.
func (p *controllerProcess) crashLoop(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(300+rand.IntN(2200)) * time.Millisecond):
		}
		p.kill()
		if err := p.start(); err != nil {
			p.t.Errorf("restarting the controller: %v", err)
			return
		}
	}
}

func controllerBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(envtest.RepoRoot(), "bin", "controller")
	_, err := os.Stat(bin)
	require.NoError(t, err, "build the controller first (make build)")
	return bin
}

func adminKubeconfig(t *testing.T) string {
	t.Helper()
	user, err := env.Environment.ControlPlane.AddUser(crenvtest.User{Name: "crash-controller", Groups: []string{"system:masters"}}, nil)
	require.NoError(t, err)
	raw, err := user.KubeConfig()
	require.NoError(t, err)
	cfg, err := clientcmd.Load(raw)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "controller.kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// Crash consistency: the controller is SIGKILLed at random moments, at
// least 20 times, while 100 instances are created, updated and half of them
// deleted; it is restarted each time. At the end every instance is ACTIVE
// with its children at the latest spec, or gone; each child exists exactly
// once; no child is orphaned; no finalizer is stuck.
func TestCrashConsistency(t *testing.T) {
	ctx := context.Background()
	n := envInt("KORVID_CRASH_INSTANCES", 100)
	minKills := envInt("KORVID_CRASH_KILLS", 20)
	p := &controllerProcess{t: t, bin: controllerBinary(t), kcfg: adminKubeconfig(t), logDir: t.TempDir()}
	require.NoError(t, p.start())
	t.Cleanup(p.stop)

	createRGD(t, `
metadata: {name: crashy}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Crashy
    spec:
      value: string | default=a
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.metadata.name}-config"}
      data: {value: "${schema.spec.value}"}
  - id: secret
    template:
      apiVersion: v1
      kind: Secret
      metadata: {name: "${schema.metadata.name}-secret"}
      stringData: {value: "${config.data.value}"}
`)
	waitRGDState(t, "crashy", v1alpha1.ResourceGraphDefinitionStateActive)

	stop := make(chan struct{})
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); p.crashLoop(stop) }()
	name := func(i int) string { return "c" + strconv.Itoa(i) }
	start := time.Now()
	for i := range n {
		createInstance(t, "Crashy", "default", name(i), map[string]any{"value": "v1"})
	}
	for i := range n {
		assert.EventuallyWithT(t, func(c *assert.CollectT) {
			u, err := get(kindGVK("Crashy"), "default", name(i))
			if !assert.NoError(c, err) {
				return
			}
			assert.NoError(c, unstructured.SetNestedField(u.Object, "v2", "spec", "value"))
			assert.NoError(c, env.Client.Update(ctx, u))
		}, timeout, tick)
	}
	for i := 0; i < n; i += 2 {
		deleteObject(t, kindGVK("Crashy"), "default", name(i))
	}
	// Keep killing until the minimum is reached.
	for !t.Failed() {
		p.mu.Lock()
		k := p.kills
		p.mu.Unlock()
		if k >= minKills {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	<-loopDone
	lastKill := time.Now()

	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		for i := range n {
			u, err := get(kindGVK("Crashy"), "default", name(i))
			if i%2 == 0 {
				assert.Error(c, err, "%s was deleted", name(i))
				continue
			}
			if !assert.NoError(c, err) {
				continue
			}
			assert.Equal(c, v1alpha1.InstanceStateActive, state(u), name(i))
			cm, err := get(configMapGVK, "default", name(i)+"-config")
			if assert.NoError(c, err) {
				assert.Equal(c, "v2", cm.Object["data"].(map[string]any)["value"], name(i))
			}
		}
	}, 3*timeout, 500*time.Millisecond)
	converged := time.Since(lastKill)

	// Each child exactly once, none orphaned.
	perInstance := map[string]int{}
	for _, kind := range []string{"ConfigMapList", "SecretList"} {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(configMapGVK.GroupVersion().WithKind(kind))
		require.NoError(t, env.Client.List(ctx, list, client.InNamespace("default"), client.MatchingLabels{v1alpha1.LabelInstanceKind: "Crashy"}))
		for _, o := range list.Items {
			owner := o.Labels[v1alpha1.LabelInstanceName]
			perInstance[owner+"/"+kind]++
			idx, err := strconv.Atoi(owner[1:])
			require.NoError(t, err)
			assert.Equal(t, 1, idx%2, "child %s of deleted instance %s is orphaned", o.Name, owner)
		}
	}
	for key, count := range perInstance {
		assert.Equal(t, 1, count, "%s has %d children of its kind", key, count)
	}
	assert.Len(t, perInstance, n, "every remaining instance has a ConfigMap and a Secret") // n/2 instances x 2 kinds
	t.Logf("figure: %d SIGKILLs over %s (%d controller starts) during create/update/delete of %d instances; converged %.1fs after the last kill; %d children, each exactly once, none orphaned",
		p.kills, lastKill.Sub(start).Round(time.Second), p.starts, n, converged.Seconds(), len(perInstance))
}
