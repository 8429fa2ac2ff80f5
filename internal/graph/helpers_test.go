package graph_test

import (
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/resolver"
)

const testdataDir = "../../testdata"

var staticResolver = sync.OnceValues(func() (graph.SchemaResolver, error) {
	return resolver.NewStaticFromFiles(testdataDir + "/crds")
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
