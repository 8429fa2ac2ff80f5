package ownership

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/korvid/korvid/api/v1alpha1"
)

func TestApplySetIDIsStableAndDistinct(t *testing.T) {
	a := Instance{GVK: schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "WebApp"}, Name: "web", Namespace: "default"}
	b := a
	b.Namespace = "other"
	assert.Equal(t, a.ApplySetID(), a.ApplySetID())
	assert.NotEqual(t, a.ApplySetID(), b.ApplySetID())
	assert.Regexp(t, `^applyset-[A-Za-z0-9_-]{43}-v1$`, a.ApplySetID())
}

func TestChildLabelsAndOwnership(t *testing.T) {
	inst := Instance{GVK: schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "WebApp"}, Name: "web", Namespace: "team-a", UID: "uid-1"}
	l := ChildLabels(inst, "deployment")
	assert.Equal(t, "team-a", l[v1alpha1.LabelInstanceNamespace])
	assert.Equal(t, "deployment", l[v1alpha1.LabelNodeID])
	assert.Equal(t, "kro", l[v1alpha1.LabelManagedBy])

	cluster := inst
	cluster.Namespace = ""
	assert.NotContains(t, ChildLabels(cluster, "deployment"), v1alpha1.LabelInstanceNamespace)

	obj := &unstructured.Unstructured{}
	obj.SetLabels(l)
	assert.True(t, OwnedBy(obj, inst))
	uid, ok := OwnerOf(obj)
	require.True(t, ok)
	assert.Equal(t, "uid-1", uid)

	other := inst
	other.UID = "uid-2"
	assert.False(t, OwnedBy(obj, other), "an object of another instance is not ours")

	obj.SetLabels(map[string]string{v1alpha1.LabelNodeID: "deployment"})
	assert.False(t, OwnedBy(obj, inst), "an object without ownership labels is never ours")
}
