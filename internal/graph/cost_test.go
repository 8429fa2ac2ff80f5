package graph_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/test/rgdtest"
)

// costly concatenates the instance's string once per item of its list:
// estimated at hundreds of millions over the largest values its schema
// allows, and as costly as that at runtime when the values are that large.
func costly() *v1alpha1.ResourceGraphDefinition {
	return rgdtest.New("costly", "Costly").Spec("text", "string").Spec("items", "[]integer").
		ConfigMap("cm", "costly", map[string]any{
			"size": `${string(schema.spec.items.map(x, schema.spec.text + "," + schema.spec.text).size())}`,
			"name": "${schema.spec.text}",
		}).Build()
}

// Like kro, korvid refuses no expression for its estimated cost unless the
// cluster sets a limit; it lists the expressions that may reach the runtime
// cost limit.
func TestEstimatedCostRefusesOnlyWithALimit(t *testing.T) {
	rgd := costly()
	g, errs := graph.Compile(rgd, testResolver(t), graph.DefaultOptions())
	require.Empty(t, errs)
	require.Len(t, g.Costly, 1, "only the loop is costly: %v", g.Costly)
	assert.Equal(t, "spec.resources[0].template.data.size", g.Costly[0].Path)
	assert.Contains(t, g.Costly[0].Expression, "schema.spec.items.map")
	assert.Greater(t, g.Costly[0].EstimatedCost, graph.DefaultOptions().RuntimeCostLimit)

	opts := graph.DefaultOptions()
	opts.MaxExpressionCost = 1_000_000
	_, errs = graph.Compile(rgd, testResolver(t), opts)
	require.Len(t, errs, 1)
	assert.Equal(t, "spec.resources[0].template.data.size", errs[0].Field)
	assert.Contains(t, errs[0].Error(), "estimated cost")
}

// An expression the compiler lets through is still stopped by the default
// runtime cost limit when the instance's values make it expensive.
func TestCostlyExpressionStopsAtTheDefaultRuntimeLimit(t *testing.T) {
	g, errs := graph.Compile(costly(), testResolver(t), graph.DefaultOptions())
	require.Empty(t, errs)
	items := make([]any, 10_000)
	for i := range items {
		items[i] = int64(i)
	}
	s := graph.Scope{Instance: map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": "Costly",
		"metadata": map[string]any{"name": "demo", "namespace": "ns"},
		// 100 KiB of text and 10,000 items: an instance of about 160 KiB.
		"spec": map[string]any{"text": strings.Repeat("x", 100<<10), "items": items},
	}}
	start := time.Now()
	_, err := g.Node("cm").Render(t.Context(), s, graph.RenderOptions{})
	var ee *graph.EvalError
	require.ErrorAs(t, err, &ee, "exceeding the cost limit is the expression's failure")
	assert.Contains(t, err.Error(), "cost limit")
	assert.Less(t, time.Since(start), 5*time.Second)

	// The same expression over ordinary values evaluates.
	s.Instance["spec"] = map[string]any{"text": "abc", "items": []any{int64(1), int64(2)}}
	objs, err := g.Node("cm").Render(t.Context(), s, graph.RenderOptions{})
	require.NoError(t, err)
	require.Len(t, objs, 1)
	assert.Equal(t, "2", objs[0].Object["data"].(map[string]any)["size"])
}

// Only an expression that cannot reach the runtime cost limit runs without
// its cost tracked: one without a loop whose estimate is within the limit.
// A loop-free expression whose estimate is above the limit is stopped by
// it, and the same expression evaluates under a limit it cannot reach.
func TestLoopFreeExpressionsAreStoppedWhenTheirEstimateExceedsTheLimit(t *testing.T) {
	rgd := rgdtest.New("concat", "Concat").Spec("text", "string").
		ConfigMap("cm", "concat", map[string]any{"both": `${schema.spec.text + schema.spec.text}`}).Build()
	scope := graph.Scope{Instance: map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": "Concat",
		"metadata": map[string]any{"name": "demo", "namespace": "ns"},
		"spec":     map[string]any{"text": strings.Repeat("x", 10<<10)},
	}}
	small := graph.DefaultOptions()
	small.RuntimeCostLimit = 100
	g, errs := graph.Compile(rgd, testResolver(t), small)
	require.Empty(t, errs)
	_, err := g.Node("cm").Render(t.Context(), scope, graph.RenderOptions{})
	var ee *graph.EvalError
	require.ErrorAs(t, err, &ee, "20 KiB of concatenation costs more than 100")
	assert.Contains(t, err.Error(), "cost limit")

	g, errs = graph.Compile(rgd, testResolver(t), graph.DefaultOptions())
	require.Empty(t, errs)
	require.Empty(t, g.Costly, "its estimate is within the default limit")
	objs, err := g.Node("cm").Render(t.Context(), scope, graph.RenderOptions{})
	require.NoError(t, err)
	require.Len(t, objs, 1)
	both, _, _ := unstructured.NestedString(objs[0].Object, "data", "both")
	assert.Len(t, both, 20<<10)
}

// The schema's size assumptions (4 KiB for a string without maxLength) are
// not bounds: a loop-free expression that is cheap under them but not over
// the largest values an instance may hold stays tracked and stopped.
func TestLoopFreeExpressionsAreBoundedByTheLargestValuesNotTheSchemasAssumptions(t *testing.T) {
	rgd := rgdtest.New("concat", "Concat").Spec("text", "string").
		ConfigMap("cm", "concat", map[string]any{"four": `${schema.spec.text + schema.spec.text + schema.spec.text + schema.spec.text}`}).Build()
	g, errs := graph.Compile(rgd, testResolver(t), graph.DefaultOptions())
	require.Empty(t, errs)
	require.Empty(t, g.Costly, "cheap under the schema's assumptions")
	// Concatenating 2, 3 and 4 copies of 1.25 MiB costs about 1.18 million.
	scope := graph.Scope{Instance: map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": "Concat",
		"metadata": map[string]any{"name": "demo", "namespace": "ns"},
		"spec":     map[string]any{"text": strings.Repeat("x", 1280<<10)},
	}}
	_, err := g.Node("cm").Render(t.Context(), scope, graph.RenderOptions{})
	var ee *graph.EvalError
	require.ErrorAs(t, err, &ee)
	assert.Contains(t, err.Error(), "cost limit")
}
