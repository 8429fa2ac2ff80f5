// Package reliability holds the envtest suites that stop, restart and break
// korvid's controller on purpose: restarts with a broken newest revision,
// RGD deletions with instances left, child kinds whose CRD disappears. Each
// test starts and stops its own controller manager against one control plane.
package reliability

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/controller"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/options"
	"github.com/korvid/korvid/test/envtest"
)

var env *envtest.Env

func TestMain(m *testing.M) {
	envtest.Main(m, envtest.Options{}, &env)
}

const (
	timeout = 60 * time.Second
	tick    = 100 * time.Millisecond
)

// startController runs korvid's controller (the production Setup) until
// the returned function is called, which stops it and waits for it.
func startController(t *testing.T) (stop func()) {
	t.Helper()
	return startControllerWith(t, env.Config)
}

// startControllerWith runs the controller against the API server cfg names.
func startControllerWith(t *testing.T, cfg *rest.Config, adjust ...func(*options.Controller)) (stop func()) {
	t.Helper()
	ctrl.SetLogger(zap.New(zap.UseDevMode(false)))
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Each test runs its own manager, with the same controller names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	require.NoError(t, err)
	co := options.NewController()
	for _, f := range adjust {
		f(co)
	}
	_, err = controller.Setup(mgr, controller.Options{Controller: *co, Graph: graph.DefaultOptions()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped:", err)
		}
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func createRGD(t *testing.T, s string) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, yaml.UnmarshalStrict([]byte(s), rgd))
	require.NoError(t, env.Client.Create(context.Background(), rgd))
	return rgd
}

func waitRGDState(t *testing.T, name string, want v1alpha1.ResourceGraphDefinitionState) {
	t.Helper()
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		rgd := &v1alpha1.ResourceGraphDefinition{}
		if !assert.NoError(c, env.Client.Get(context.Background(), client.ObjectKey{Name: name}, rgd)) {
			return
		}
		assert.Equal(c, want, rgd.Status.State)
	}, timeout, tick, "RGD %s never became %s", name, want)
}

func kindGVK(kind string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: kind}
}

var configMapGVK = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}

func createInstance(t *testing.T, kind, ns, name string, spec map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(kindGVK(kind))
	u.SetNamespace(ns)
	u.SetName(name)
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.NoError(c, env.Client.Create(context.Background(), u.DeepCopy()))
	}, timeout, 500*time.Millisecond)
}

func get(gvk schema.GroupVersionKind, ns, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u)
	return u, err
}

func state(u *unstructured.Unstructured) string {
	s, _, _ := unstructured.NestedString(u.Object, "status", "state")
	return s
}

func waitInstanceState(t *testing.T, kind, ns, name, want string) {
	t.Helper()
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		u, err := get(kindGVK(kind), ns, name)
		if assert.NoError(c, err) {
			assert.Equal(c, want, state(u))
		}
	}, timeout, tick, "instance %s/%s never reached %s", ns, name, want)
}

func waitExists(t *testing.T, gvk schema.GroupVersionKind, ns, name string) {
	t.Helper()
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := get(gvk, ns, name)
		assert.NoError(c, err)
	}, timeout, tick, "%s %s/%s never appeared", gvk.Kind, ns, name)
}

func waitGone(t *testing.T, gvk schema.GroupVersionKind, ns, name string) {
	t.Helper()
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := get(gvk, ns, name)
		assert.True(c, apierrors.IsNotFound(err), "%s %s/%s still exists (err %v)", gvk.Kind, ns, name, err)
	}, timeout, tick, "%s %s/%s was never deleted", gvk.Kind, ns, name)
}

func deleteObject(t *testing.T, gvk schema.GroupVersionKind, ns, name string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(name)
	require.NoError(t, client.IgnoreNotFound(env.Client.Delete(context.Background(), u)))
}

func namespaceObject(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// configMapRGD is an RGD whose kind renders one ConfigMap per instance.
func configMapRGD(name, kind string) string {
	return fmt.Sprintf(`
metadata: {name: %s}
spec:
  schema:
    apiVersion: v1alpha1
    kind: %s
    spec:
      value: string | default=a
  resources:
  - id: cm
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.metadata.name}-cm"}
      data: {value: "${schema.spec.value}"}
`, name, kind)
}
