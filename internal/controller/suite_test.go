package controller_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

// stopManager stops the manager the suite started, before the control plane.
var stopManager = func() {}

func TestMain(m *testing.M) {
	e, err := envtest.Start(envtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env = e
	code := m.Run()
	stopManager()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping control plane:", err)
	}
	os.Exit(code)
}

const (
	timeout = 60 * time.Second
	tick    = 100 * time.Millisecond
)

var startOnce sync.Once

// start runs one manager with the production Setup for the whole package.
func start(t *testing.T) client.Client {
	t.Helper()
	startOnce.Do(func() {
		ctrl.SetLogger(zap.New(zap.UseDevMode(false), zap.Level(zapLevel())))
		cfg := rest.CopyConfig(env.Config)
		cfg.Wrap(writes.wrap)
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{
			Scheme:                 env.Scheme,
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
		})
		require.NoError(t, err)
		co := options.NewController()
		co.AllowCRDDeletion = false
		_, err = controller.Setup(mgr, controller.Options{Controller: *co, Graph: graph.DefaultOptions()})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		stopManager = func() { cancel(); <-done }
		go func() {
			defer close(done)
			if err := mgr.Start(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "manager stopped:", err)
			}
		}()
	})
	return env.Client
}

// helper marks the caller as a test helper when t is a *testing.T (the
// helpers also run inside EventuallyWithT closures, with an assert.CollectT).
func helper(t require.TestingT) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
}

func parse(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(s), &u.Object))
	return u
}

func createRGD(t *testing.T, c client.Client, s string) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, yaml.UnmarshalStrict([]byte(s), rgd))
	return createRGDObject(t, c, rgd)
}

// createRGDObject creates an RGD built with rgdtest.
func createRGDObject(t *testing.T, c client.Client, rgd *v1alpha1.ResourceGraphDefinition) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	require.NoError(t, c.Create(context.Background(), rgd))
	return rgd
}

func getRGD(t require.TestingT, c client.Client, name string) *v1alpha1.ResourceGraphDefinition {
	helper(t)
	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Name: name}, rgd))
	return rgd
}

// updateRGD changes an RGD as a user would, read fresh and retried on a
// conflict: the controller writes the RGD's status and finalizer meanwhile.
func updateRGD(t *testing.T, c client.Client, name string, mutate func(*v1alpha1.ResourceGraphDefinition)) {
	t.Helper()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		rgd := &v1alpha1.ResourceGraphDefinition{}
		if err := c.Get(context.Background(), client.ObjectKey{Name: name}, rgd); err != nil {
			return err
		}
		mutate(rgd)
		return c.Update(context.Background(), rgd)
	}))
}

func waitActive(t *testing.T, c client.Client, name string) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	var rgd *v1alpha1.ResourceGraphDefinition
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		rgd = getRGD(collect, c, name)
		assert.True(collect, rgd.Status.State == v1alpha1.ResourceGraphDefinitionStateActive)
	}, timeout, tick, "RGD %s never became Active", name)
	return rgd
}

func namespace(t *testing.T, c client.Client, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	err := c.Create(context.Background(), ns)
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	return name
}

func get(t require.TestingT, c client.Client, gvk schema.GroupVersionKind, ns, name string) (*unstructured.Unstructured, error) {
	helper(t)
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u)
	return u, err
}

func mustGet(t require.TestingT, c client.Client, gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	helper(t)
	u, err := get(t, c, gvk, ns, name)
	require.NoError(t, err)
	return u
}

// eventuallyGet waits for an object to exist.
func eventuallyGet(t *testing.T, c client.Client, gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	var u *unstructured.Unstructured
	require.Eventually(t, func() bool {
		var err error
		u, err = get(t, c, gvk, ns, name)
		return err == nil
	}, timeout, tick, "%s %s/%s never appeared", gvk.Kind, ns, name)
	return u
}

func eventuallyGone(t *testing.T, c client.Client, gvk schema.GroupVersionKind, ns, name string) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := get(t, c, gvk, ns, name)
		return apierrors.IsNotFound(err)
	}, timeout, tick, "%s %s/%s was never deleted", gvk.Kind, ns, name)
}

func state(u *unstructured.Unstructured) string {
	s, _, _ := unstructured.NestedString(u.Object, "status", "state")
	return s
}

func condition(u *unstructured.Unstructured, typ string) map[string]any {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range list {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m
		}
	}
	return nil
}

// waitState waits for an instance to reach a state and returns it.
func waitState(t *testing.T, c client.Client, gvk schema.GroupVersionKind, ns, name, want string) *unstructured.Unstructured {
	t.Helper()
	var u *unstructured.Unstructured
	require.Eventually(t, func() bool {
		var err error
		u, err = get(t, c, gvk, ns, name)
		return err == nil && state(u) == want
	}, timeout, tick, "instance %s/%s never reached %s", ns, name, want)
	return u
}

func rgdCondition(rgd *v1alpha1.ResourceGraphDefinition, typ string) *metav1.Condition {
	return meta.FindStatusCondition(rgd.Status.Conditions, typ)
}

func crdEstablished(t *testing.T, c client.Client, name string) bool {
	t.Helper()
	crd := &extv1.CustomResourceDefinition{}
	return c.Get(context.Background(), client.ObjectKey{Name: name}, crd) == nil && apihelpers.IsCRDConditionTrue(crd, extv1.Established)
}

var (
	configMapGVK  = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	serviceGVK    = schema.GroupVersionKind{Version: "v1", Kind: "Service"}
	secretGVK     = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}
	deploymentGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
)

func kindGVK(kind string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: kind}
}

func createInstance(t *testing.T, c client.Client, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(kindGVK(kind))
	u.SetNamespace(ns)
	u.SetName(name)
	require.Eventually(t, func() bool {
		err := c.Create(context.Background(), u)
		if err != nil {
			t.Logf("creating %s %s/%s: %v", kind, ns, name, err)
		}
		return err == nil
	}, timeout, 500*time.Millisecond)
	return u
}

// patchSpec merges fields into an instance's spec.
func patchSpec(t *testing.T, c client.Client, kind, ns, name string, spec map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(kindGVK(kind))
	u.SetNamespace(ns)
	u.SetName(name)
	require.NoError(t, c.Patch(context.Background(), u, client.Merge))
}

func strconvItoa(i int) string { return fmt.Sprint(i) }
