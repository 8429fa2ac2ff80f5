package scheme

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Every kind the binaries read must be in the scheme New returns: a kind
// added later (by a manager's Setup, say) writes to a scheme that running
// watches already decode with.
func TestNewHoldsEveryKindTheBinariesRead(t *testing.T) {
	s := New()
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "", Version: "v1", Kind: "ConfigMap"},
		{Group: "apps", Version: "v1", Kind: "Deployment"},
		{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"},
		{Group: "kro.run", Version: "v1alpha1", Kind: "ResourceGraphDefinition"},
		{Group: "internal.kro.run", Version: "v1alpha1", Kind: "GraphRevision"},
		{Group: "internal.kro.run", Version: "v1alpha1", Kind: "GraphRevisionList"},
	} {
		assert.True(t, s.Recognizes(gvk), "the scheme recognizes %s", gvk)
	}
	obj, err := s.New(schema.GroupVersionKind{Group: "internal.kro.run", Version: "v1alpha1", Kind: "GraphRevision"})
	require.NoError(t, err)
	gvks, _, err := s.ObjectKinds(obj)
	require.NoError(t, err)
	assert.Equal(t, "GraphRevision", gvks[0].Kind)
}
