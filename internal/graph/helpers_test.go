package graph_test

import (
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"encoding/json"
	"fmt"
	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/resolver"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// crdOnlyResolver serves the test CRDs while the built-in snapshot is missing.
type crdOnlyResolver map[schema.GroupVersionKind]*graph.ResolvedKind

func (r crdOnlyResolver) Resolve(gvk schema.GroupVersionKind) (*graph.ResolvedKind, error) {
	if k, ok := r[gvk]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%s: %w", gvk, graph.ErrKindNotFound)
}

func newCRDOnlyResolver(dir string) (graph.SchemaResolver, error) {
	crds, err := resolver.ReadCRDFiles(dir)
	if err != nil {
		return nil, err
	}
	r := crdOnlyResolver{}
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			b, _ := json.Marshal(v.Schema.OpenAPIV3Schema)
			s := &spec.Schema{}
			if err := json.Unmarshal(b, s); err != nil {
				return nil, err
			}
			s.SetProperty("apiVersion", *spec.StringProperty())
			s.SetProperty("kind", *spec.StringProperty())
			s.SetProperty("metadata", spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}, Properties: map[string]spec.Schema{
				"name": *spec.StringProperty(), "namespace": *spec.StringProperty(),
				"labels": *spec.MapProperty(spec.StringProperty()), "annotations": *spec.MapProperty(spec.StringProperty()),
			}}})
			gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
			r[gvk] = &graph.ResolvedKind{GVK: gvk, Resource: crd.Spec.Names.Plural, Namespaced: crd.Spec.Scope == "Namespaced", Schema: s}
		}
	}
	return r, nil
}

const testdataDir = "../../testdata"

var staticResolver = sync.OnceValues(func() (graph.SchemaResolver, error) {
	r, err := resolver.NewStaticFromFiles(testdataDir + "/crds")
	if err != nil {
		return newCRDOnlyResolver(testdataDir + "/crds")
	}
	return r, nil
})

func testResolver(t testing.TB) graph.SchemaResolver {
	t.Helper()
	r, err := staticResolver()
	require.NoError(t, err)
	return r
}

func loadRGD(t testing.TB, path string) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return parseRGD(t, b)
}

func parseRGD(t testing.TB, b []byte) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, yaml.UnmarshalStrict(b, rgd))
	return rgd
}

func mustCompile(t testing.TB, rgd *v1alpha1.ResourceGraphDefinition) *graph.Graph {
	t.Helper()
	g, errs := graph.Compile(rgd, testResolver(t), graph.DefaultOptions())
	require.Empty(t, errs, "compile errors: %v", errs)
	require.NotNil(t, g)
	return g
}
