package examples_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/resolver"
)

func loadRGD(t *testing.T, dir string) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "rgd.yaml"))
	require.NoError(t, err)
	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, yaml.UnmarshalStrict(b, rgd))
	return rgd
}

// TestExamplesCompile compiles every valid example the way the webhook and
// the controller do. The chained example needs the kind the webapp example
// generates, so the webapp's CRD is added to the resolver first, as it is
// in a cluster where webapp/rgd.yaml was applied first.
func TestExamplesCompile(t *testing.T) {
	res, err := resolver.NewStatic()
	require.NoError(t, err)
	for _, tc := range []struct {
		dir       string
		wantOrder []string
	}{
		{dir: "webapp", wantOrder: []string{"config", "deployment", "service", "ingress"}},
		{dir: "collection", wantOrder: []string{"configs"}},
		{dir: "externalref", wantOrder: []string{"platform", "settings"}},
		{dir: "chained", wantOrder: []string{"frontend", "catalog"}},
		{dir: "benchapp", wantOrder: []string{"config", "deployment", "service"}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			g, errs := graph.Compile(loadRGD(t, tc.dir), res, graph.DefaultOptions())
			require.Empty(t, errs, "compile errors: %v", errs)
			require.NotNil(t, g.CRD)
			assert.Equal(t, tc.wantOrder, g.TopologicalOrder)
			require.NoError(t, res.AddCRD(g.CRD))
		})
	}
}

// TestBrokenExampleReportsEveryMistake checks that the broken example fails
// with each mistake its comment promises, at the field path a user sees in
// `kubectl apply`'s output.
func TestBrokenExampleReportsEveryMistake(t *testing.T) {
	res, err := resolver.NewStatic()
	require.NoError(t, err)
	_, errs := graph.Compile(loadRGD(t, "broken"), res, graph.DefaultOptions())
	require.NotEmpty(t, errs)
	var got []string
	for _, e := range errs {
		got = append(got, e.Field)
		t.Logf("%s", e.Error())
	}
	for _, path := range []string{
		"spec.resources[0].template.spec.replica",
		"spec.resources[1].template.spec.ports[0].port",
		"spec.resources[1].readyWhen[0]",
		"spec.schema.status.endpoint",
	} {
		assert.Contains(t, got, path)
	}
}
