package graph_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/test/rgdtest"
)

// slowRGD has one field whose expression loops n² times over the instance's
// list (no allocation per step); a readyWhen and a status field do the same
// (the readyWhen over the observed object's finalizers).
func slowRGD() *v1alpha1.ResourceGraphDefinition {
	rgd := rgdtest.Slow().Status("slow", "${"+rgdtest.SlowLoop+"}").Build()
	rgd.Spec.Resources[0].ReadyWhen = []string{"${cm.metadata.finalizers.all(x, cm.metadata.finalizers.all(y, x != y || x == y))}"}
	return rgd
}

// slowScope is an instance whose list makes each slow expression take
// 25 million steps: tens of seconds under -race.
func slowScope() graph.Scope {
	items := make([]any, 5000)
	finalizers := make([]any, 5000)
	for i := range items {
		items[i] = int64(i)
		finalizers[i] = "f"
	}
	return graph.Scope{
		Instance: map[string]any{
			"apiVersion": "kro.run/v1alpha1", "kind": "Slow",
			"metadata": map[string]any{"name": "demo", "namespace": "ns"},
			"spec":     map[string]any{"items": items},
		},
		Observed: map[string]any{"cm": map[string]any{"metadata": map[string]any{"name": "slow", "finalizers": finalizers}}},
	}
}

// unlimited lifts the cost limits so only the context can stop the loops.
func unlimited() graph.Options {
	o := graph.DefaultOptions()
	o.MaxExpressionCost, o.RuntimeCostLimit = math.MaxUint64, math.MaxUint64
	return o
}

func requireInterrupted(t *testing.T, err error, start time.Time) {
	t.Helper()
	require.Error(t, err)
	assert.True(t, errors.Is(err, graph.ErrInterrupted), "interrupted, got %v", err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "the context's error is wrapped: %v", err)
	var ee *graph.EvalError
	assert.False(t, errors.As(err, &ee), "an interruption is not the expression's fault")
	assert.False(t, errors.Is(err, graph.ErrPending))
	assert.Contains(t, err.Error(), "evaluation interrupted")
	assert.Less(t, time.Since(start), 2*time.Second, "the evaluation stops soon after the deadline")
}

func TestEvaluationStopsWhenTheContextEnds(t *testing.T) {
	g, errs := graph.Compile(slowRGD(), testResolver(t), unlimited())
	require.Empty(t, errs)
	n := g.Node("cm")
	s := slowScope()
	deadline := func() context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}

	t.Run("render", func(t *testing.T) {
		start := time.Now()
		_, err := n.Render(deadline(), s, graph.RenderOptions{})
		requireInterrupted(t, err, start)
	})
	t.Run("render skipping pending fields does not skip an interruption", func(t *testing.T) {
		start := time.Now()
		_, err := n.Render(deadline(), s, graph.RenderOptions{SkipPending: true})
		requireInterrupted(t, err, start)
	})
	t.Run("ready", func(t *testing.T) {
		start := time.Now()
		_, err := n.Ready(deadline(), s)
		requireInterrupted(t, err, start)
	})
	t.Run("status", func(t *testing.T) {
		start := time.Now()
		_, _, err := g.ProjectStatus(deadline(), s)
		requireInterrupted(t, err, start)
	})
	t.Run("an ended context stops before evaluating", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := n.Included(ctx, s)
		require.NoError(t, err, "no includeWhen: nothing to evaluate")
		_, err = n.Render(ctx, s, graph.RenderOptions{})
		require.ErrorIs(t, err, graph.ErrInterrupted)
		require.ErrorIs(t, err, context.Canceled)
	})
}

// The runtime cost limit stops an evaluation the context would let run. A
// small limit keeps the test short: cel-go's cost tracker slows down as a
// comprehension runs (its value stack grows), so reaching the default limit
// in a nested loop takes seconds.
func TestRuntimeCostLimitStillApplies(t *testing.T) {
	o := unlimited()
	o.RuntimeCostLimit = 20_000
	g, errs := graph.Compile(slowRGD(), testResolver(t), o)
	require.Empty(t, errs)
	start := time.Now()
	_, err := g.Node("cm").Render(t.Context(), slowScope(), graph.RenderOptions{})
	var ee *graph.EvalError
	require.ErrorAs(t, err, &ee, "exceeding the cost limit is the expression's failure")
	assert.Contains(t, err.Error(), "cost limit")
	assert.False(t, errors.Is(err, graph.ErrInterrupted))
	assert.Less(t, time.Since(start), 5*time.Second)
}
