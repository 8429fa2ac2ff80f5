package controller_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/controller/instance"
)

// writer returns a Writer of the suite's API server, as the controller
// builds one.
func writer(t *testing.T, c client.Client) *instance.Writer {
	t.Helper()
	hc, err := rest.HTTPClientFor(env.Config)
	require.NoError(t, err)
	return instance.NewWriter(env.Config, hc, c.RESTMapper())
}

// The Writer's answers are the objects the API server stored, decoded as
// client-go decodes unstructured objects (integers as int64), and its
// errors are the API server's, so that conflicts and missing objects are
// recognised as such.
func TestWriterAnswersAndErrors(t *testing.T) {
	c := start(t)
	w := writer(t, c)
	ns := namespace(t, c, "writer")
	ctx := t.Context()
	deployment := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web", "namespace": ns},
			"spec": map[string]any{
				"replicas": int64(2),
				"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
				"template": map[string]any{
					"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
					"spec":     map[string]any{"containers": []any{map[string]any{"name": "web", "image": "nginx"}}},
				},
			},
		}}
	}

	d := deployment()
	require.NoError(t, w.Apply(ctx, d, v1alpha1.FieldManager))
	stored := &appsv1.Deployment{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, stored))
	assert.Equal(t, stored.ResourceVersion, d.GetResourceVersion(), "the answer is the stored object")
	assert.Equal(t, stored.UID, d.GetUID())
	assert.Equal(t, int64(2), d.Object["spec"].(map[string]any)["replicas"], "integers decode as int64")
	assert.Equal(t, int64(600), d.Object["spec"].(map[string]any)["progressDeadlineSeconds"], "with the server's defaults")
	require.Len(t, stored.ManagedFields, 1)
	assert.Equal(t, v1alpha1.FieldManager, stored.ManagedFields[0].Manager)

	// An error is the API server's own, with its reason and message; the
	// object sent is left as it was.
	stale := deployment()
	stale.SetUID(types.UID("00000000-0000-0000-0000-000000000000"))
	err := w.Apply(ctx, stale, v1alpha1.FieldManager)
	require.Error(t, err)
	assert.True(t, apierrors.IsInvalid(err), "%v", err)
	assert.Contains(t, err.Error(), `Deployment.apps "web" is invalid: metadata.uid`)
	assert.Empty(t, stale.GetResourceVersion())
	assert.Equal(t, "00000000-0000-0000-0000-000000000000", string(stale.GetUID()))
	taken := deployment()
	taken.SetResourceVersion("1")
	err = w.Apply(ctx, taken, v1alpha1.FieldManager)
	assert.True(t, apierrors.IsConflict(err), "%v", err)
	assert.Contains(t, err.Error(), "the object has been modified")

	// A status patch answers with the whole object.
	st := &unstructured.Unstructured{}
	st.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("Deployment"))
	st.SetNamespace(ns)
	st.SetName("web")
	require.NoError(t, w.PatchStatus(ctx, st, types.MergePatchType, []byte(`{"status":{"observedGeneration":7}}`)))
	assert.Equal(t, int64(7), st.Object["status"].(map[string]any)["observedGeneration"])
	assert.Equal(t, "nginx", st.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"])

	gone := &unstructured.Unstructured{}
	gone.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("Deployment"))
	gone.SetNamespace(ns)
	gone.SetName("missing")
	err = w.PatchStatus(ctx, gone, types.MergePatchType, []byte(`{"status":{"observedGeneration":1}}`))
	assert.True(t, apierrors.IsNotFound(err), "%v", err)

	// Cluster-scoped kinds are written without a namespace.
	cluster := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": ns, "labels": map[string]any{"writer": "yes"}},
	}}
	require.NoError(t, w.Apply(ctx, cluster, "writer-test"))
	got := &corev1.Namespace{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: ns}, got))
	assert.Equal(t, "yes", got.Labels["writer"])

	unknown := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Nothing", "metadata": map[string]any{"name": "x", "namespace": ns},
	}}
	err = w.Apply(ctx, unknown, v1alpha1.FieldManager)
	assert.True(t, meta.IsNoMatchError(err), "%v", err)
}

// countingMapper counts the kind lookups a Writer makes.
type countingMapper struct {
	meta.RESTMapper
	lookups int
}

func (m *countingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	m.lookups++
	return m.RESTMapper.RESTMapping(gk, versions...)
}

// A Writer looks a kind up once, not on every write, and again after a
// write answered 404: the kind's resource may have changed.
func TestWriterLooksAKindUpOnceUntilA404(t *testing.T) {
	c := start(t)
	hc, err := rest.HTTPClientFor(env.Config)
	require.NoError(t, err)
	mapper := &countingMapper{RESTMapper: c.RESTMapper()}
	w := instance.NewWriter(env.Config, hc, mapper)
	ns := namespace(t, c, "writer-lookups")
	ctx := t.Context()
	configMap := func(name string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": name, "namespace": ns},
			"data":     map[string]any{"k": "v"},
		}}
	}
	for _, name := range []string{"a", "b", "a"} {
		require.NoError(t, w.Apply(ctx, configMap(name), v1alpha1.FieldManager))
	}
	assert.Equal(t, 1, mapper.lookups, "three writes of one kind, one lookup")

	err = w.PatchStatus(ctx, configMap("missing"), types.MergePatchType, []byte(`{}`))
	require.True(t, apierrors.IsNotFound(err), "%v", err)
	require.NoError(t, w.Apply(ctx, configMap("c"), v1alpha1.FieldManager))
	assert.Equal(t, 2, mapper.lookups, "the write after a 404 looks the kind up again")
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "c"}, &corev1.ConfigMap{}))
}
