package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/korvid/korvid/internal/graph"
)

// TestRenderCollectsPending checks that RenderOptions.Pending drops the
// fields that wait for other resources and says what each one waits for.
func TestRenderCollectsPending(t *testing.T) {
	g := mustCompile(t, parseRGD(t, []byte(evalRGD)))

	t.Run("a field", func(t *testing.T) {
		s := evalScope(map[string]any{"name": "x", "engine": "postgres", "size": int64(0)})
		delete(s.Observed, "shared")
		var pending []error
		objs, err := g.Node("db").Render(t.Context(), s, graph.RenderOptions{Pending: &pending})
		require.NoError(t, err)
		require.Len(t, objs, 1)
		params := objs[0].Object["spec"].(map[string]any)["parameters"].(map[string]any)
		require.Equal(t, map[string]any{"owner": "demo"}, params)
		require.Len(t, pending, 1)
		var pe *graph.PendingError
		require.ErrorAs(t, pending[0], &pe)
		require.Equal(t, "shared", pe.Waiting)
		require.Equal(t, "spec.resources[0].template.spec.parameters.shared", pe.Path)
	})

	t.Run("every item of a collection", func(t *testing.T) {
		s := evalScope(map[string]any{"name": "shop", "regions": []any{"eu", "us"}, "tiers": []any{"a"}})
		var pending []error
		objs, err := g.Node("cells").Render(t.Context(), s, graph.RenderOptions{Pending: &pending})
		require.NoError(t, err)
		require.Len(t, objs, 2, "the forEach reads only the instance")
		for _, o := range objs {
			require.Empty(t, o.GetName(), "the name waits for db")
		}
		require.NotEmpty(t, pending)
		for _, p := range pending {
			var pe *graph.PendingError
			require.ErrorAs(t, p, &pe)
			require.Equal(t, "db", pe.Waiting)
		}
	})

	t.Run("nothing pending", func(t *testing.T) {
		s := evalScope(map[string]any{"name": "x", "engine": "postgres", "size": int64(0)})
		var pending []error
		_, err := g.Node("db").Render(t.Context(), s, graph.RenderOptions{Pending: &pending})
		require.NoError(t, err)
		require.Empty(t, pending)
	})
}
