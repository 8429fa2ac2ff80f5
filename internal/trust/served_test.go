package trust

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	discoveryfake "k8s.io/client-go/discovery/fake"
	clienttesting "k8s.io/client-go/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
)

func TestCheckServed(t *testing.T) {
	scheme := runtime.NewScheme()
	require.NoError(t, extv1.AddToScheme(scheme))
	disc := &discoveryfake.FakeDiscovery{Fake: &clienttesting.Fake{Resources: []*metav1.APIResourceList{
		// An aggregated API (no CRD behind it) serving Metric in example.com.
		{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{{Name: "metrics", Kind: "Metric"}, {Name: "metrics/status", Kind: "Metric"}}},
		// A CRD korvid created for RGD "apps".
		{GroupVersion: "kro.run/v1alpha1", APIResources: []metav1.APIResource{{Name: "apps", Kind: "App"}}},
	}}}
	owned := &extv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "apps.kro.run",
		Labels: map[string]string{v1alpha1.LabelOwned: "true", v1alpha1.LabelRGDName: "apps"}}}
	crds := fake.NewClientBuilder().WithScheme(scheme).WithObjects(owned).Build()
	kind := func(group, k, res string) graph.InstanceKind {
		return graph.InstanceKind{GVK: schema.GroupVersionKind{Group: group, Version: "v1", Kind: k}, Resource: res, Namespaced: true}
	}

	errs := CheckServed(t.Context(), disc, crds, "mine", kind("example.com", "Metric", "metrics"))
	require.Len(t, errs, 1)
	assert.Equal(t, "spec.schema.kind", errs[0].Field)
	assert.Contains(t, errs[0].Error(), "kind Metric of group example.com is already served by the API server (resource metrics, a built-in or aggregated API)")

	assert.Empty(t, CheckServed(t.Context(), disc, crds, "apps", kind("kro.run", "App", "apps")), "the RGD's own CRD is its own")
	errs = CheckServed(t.Context(), disc, crds, "thief", kind("kro.run", "App", "apps"))
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Error(), `which belongs to ResourceGraphDefinition "apps"`)
	assert.Empty(t, CheckServed(t.Context(), disc, crds, "new", kind("example.org", "Fresh", "freshes")), "a kind nobody serves is free")
}
