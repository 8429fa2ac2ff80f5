package rgd_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/controller"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/options"
	"github.com/korvid/korvid/test/envtest"
)

var env *envtest.Env

func TestMain(m *testing.M) { envtest.Main(m, envtest.Options{}, &env) }

// TestCRDDeletionFinalizesInstancesFirst runs the controller with
// --allow-crd-deletion: deleting the RGD deletes its CRD, the instances'
// children are deleted by the still-running instance controller, and only
// then is the RGD released.
func TestCRDDeletionFinalizesInstancesFirst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	require.NoError(t, err)
	co := options.NewController()
	co.AllowCRDDeletion = true
	_, err = controller.Setup(mgr, controller.Options{Controller: *co, Graph: graph.DefaultOptions()})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped:", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })

	c := env.Client
	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, yaml.UnmarshalStrict([]byte(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: disposables
spec:
  schema:
    apiVersion: v1alpha1
    kind: Disposable
    spec:
      value: string | default=x
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
      data:
        value: ${schema.spec.value}
`), rgd))
	require.NoError(t, c.Create(ctx, rgd))
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		got := &v1alpha1.ResourceGraphDefinition{}
		require.NoError(collect, c.Get(ctx, client.ObjectKey{Name: "disposables"}, got))
		assert.True(collect, got.Status.State == v1alpha1.ResourceGraphDefinitionStateActive)
	}, time.Minute, 100*time.Millisecond)

	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "disposable"}}))
	inst := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	inst.SetGroupVersionKind(schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "Disposable"})
	inst.SetNamespace("disposable")
	inst.SetName("d1")
	require.NoError(t, c.Create(ctx, inst))
	cm := &corev1.ConfigMap{}
	require.Eventually(t, func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: "disposable", Name: "d1"}, cm) == nil
	}, time.Minute, 100*time.Millisecond)

	require.NoError(t, c.Delete(ctx, rgd))
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(c.Get(ctx, client.ObjectKey{Name: "disposables"}, &v1alpha1.ResourceGraphDefinition{}))
	}, time.Minute, 100*time.Millisecond, "the RGD was not released")
	require.True(t, apierrors.IsNotFound(c.Get(ctx, client.ObjectKey{Name: "disposables.kro.run"}, &extv1.CustomResourceDefinition{})),
		"the CRD must be gone before the RGD is released")
	require.True(t, apierrors.IsNotFound(c.Get(ctx, client.ObjectKey{Namespace: "disposable", Name: "d1"}, &corev1.ConfigMap{})),
		"the instance's children must be deleted")
}
