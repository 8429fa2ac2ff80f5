package graph_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/korvid/korvid/internal/graph"
)

func TestSmokeDatabase(t *testing.T) {
	g := mustCompile(t, loadRGD(t, testdataDir+"/rgd/valid/database-crd.yaml"))
	require.Equal(t, []string{"db", "bucket"}, g.TopologicalOrder)
	inst := map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": "AppDatabase",
		"metadata": map[string]any{"name": "shop", "namespace": "team-a"},
		"spec":     map[string]any{"name": "shop-db", "engine": "mysql", "sizeGB": int64(20), "users": []any{"alice", "bob"}},
	}
	s := graph.Scope{Instance: inst, Observed: map[string]any{}}
	objs, err := g.Node("db").Render(s, graph.RenderOptions{})
	require.NoError(t, err)
	require.Len(t, objs, 1)
	require.Equal(t, map[string]any{
		"apiVersion": "example.com/v1", "kind": "Database",
		"metadata": map[string]any{"name": "shop-db", "namespace": "team-a"},
		"spec": map[string]any{"engine": "mysql", "storageGB": int64(20), "highAvailability": false,
			"users": []any{
				map[string]any{"name": "alice", "roles": []any{"read"}},
				map[string]any{"name": "bob", "roles": []any{"read"}},
			}},
	}, objs[0].Object)
	_, err = g.Node("bucket").Render(s, graph.RenderOptions{})
	require.True(t, errors.Is(err, graph.ErrPending), "%v", err)
	s.Observed["db"] = objs[0].Object
	objs, err = g.Node("bucket").Render(s, graph.RenderOptions{})
	require.NoError(t, err)
	require.Equal(t, "team-a-shop-db-backups", objs[0].GetName())
	require.Equal(t, "", objs[0].GetNamespace())
	st, pending, err := g.ProjectStatus(s)
	require.NoError(t, err)
	require.Len(t, pending, 3)
	t.Log(pending)
	require.Empty(t, st)
}
