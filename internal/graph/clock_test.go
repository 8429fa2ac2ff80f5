package graph_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/cellib"
)

// TestTimeGates evaluates a graph gating on time.now() at several instants:
// the same instance renders, includes and finds ready differently as time
// passes, creationTimestamp is a timestamp, and the graph says it reads the
// clock so the controller comes back to it.
func TestTimeGates(t *testing.T) {
	g := mustCompile(t, loadRGD(t, filepath.Join(testdataDir, "rgd", "valid", "time-gates.yaml")))
	require.True(t, g.UsesClock)
	ctx := context.Background()

	created := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	scope := func(noClock bool) graph.Scope {
		return graph.Scope{
			Instance: map[string]any{
				"apiVersion": "kro.run/v1alpha1", "kind": "ClockGates",
				"metadata": map[string]any{"name": "demo", "namespace": "team-a", "creationTimestamp": created.Format(time.RFC3339)},
				"spec":     map[string]any{"startsAt": "2026-01-01T00:00:00Z", "endsAt": "2026-06-01T13:00:30Z"},
			},
			Observed: map[string]any{},
			NoClock:  noClock,
		}
	}
	at := func(d time.Duration) { t.Cleanup(cellib.SetClock(func() time.Time { return created.Add(d) })) }

	at(30 * time.Second)
	objs, err := g.Node("flags").Render(ctx, scope(false), graph.RenderOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"aMinuteOld": "false", "started": "true", "olderThanFiveMinutes": "false",
		"endsWithinAnHour": "false", "open": "true",
	}, objs[0].Object["data"])
	inc, err := g.Node("late").Included(ctx, scope(false))
	require.NoError(t, err)
	require.False(t, inc, "not a minute old yet")

	at(10 * time.Minute)
	objs, err = g.Node("flags").Render(ctx, scope(false), graph.RenderOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"aMinuteOld": "true", "started": "true", "olderThanFiveMinutes": "true",
		"endsWithinAnHour": "true", "open": "true",
	}, objs[0].Object["data"])
	inc, err = g.Node("late").Included(ctx, scope(false))
	require.NoError(t, err)
	require.True(t, inc)
	objs, err = g.Node("late").Render(ctx, scope(false), graph.RenderOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"since": "2026-06-01T12:00:00Z"}, objs[0].Object["data"])

	s := scope(false)
	s.Observed["late"] = map[string]any{"metadata": map[string]any{"name": "demo-late", "creationTimestamp": created.Add(9 * time.Minute).Format(time.RFC3339)}}
	s.Observed["flags"] = map[string]any{"data": map[string]any{"open": "true"}}
	ready, err := g.Node("late").Ready(ctx, s)
	require.NoError(t, err)
	require.True(t, ready)
	status, pending, err := g.ProjectStatus(ctx, s)
	require.NoError(t, err)
	require.Empty(t, pending)
	require.Equal(t, map[string]any{"open": "true", "checkedAt": "2026-06-01T12:10:00Z"}, status)

	t.Run("without the clock, as at admission", func(t *testing.T) {
		_, err := g.Node("late").Included(ctx, scope(true))
		var pe *graph.PendingError
		require.True(t, errors.As(err, &pe), "got %v", err)
		require.Equal(t, "time.now()", pe.Waiting)

		var pend []error
		objs, err := g.Node("late").Render(ctx, scope(true), graph.RenderOptions{Pending: &pend})
		require.NoError(t, err)
		require.Equal(t, map[string]any{"since": "2026-06-01T12:00:00Z"}, objs[0].Object["data"], "what the spec alone decides is rendered")
		objs, err = g.Node("flags").Render(ctx, scope(true), graph.RenderOptions{Pending: &pend})
		require.NoError(t, err)
		require.Nil(t, objs[0].Object["data"], "every clock-dependent field waits")
		require.Len(t, pend, 5)
	})
}

func TestGraphsWithoutTimeDoNotUseTheClock(t *testing.T) {
	for _, f := range corpusFiles(t, "valid") {
		if filepath.Base(f) == "time-gates.yaml" {
			continue
		}
		require.False(t, mustCompile(t, loadRGD(t, f)).UsesClock, f)
	}
}
