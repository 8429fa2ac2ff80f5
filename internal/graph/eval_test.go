package graph_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/korvid/korvid/internal/graph"
)

const evalRGD = `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: eval
spec:
  schema:
    apiVersion: v1alpha1
    kind: Eval
    spec:
      name: string | required=true
      engine: string | default="postgres"
      size: integer | default=0
      regions: "[]string"
      tiers: "[]string"
      backup: boolean | default=false
      sharedName: string | default="shared"
      team: string | default="core"
    status:
      endpoint: ${db.status.endpoint}
      summary: "${db.metadata.name} on ${db.status.endpoint}"
      info:
        port: ${db.status.port}
        regions: ${size(cells)}
      names: ${cells.map(c, c.metadata.name)}
  resources:
  - id: db
    template:
      apiVersion: example.com/v1
      kind: Database
      metadata:
        name: ${schema.spec.name}-db
        labels:
          app: ${schema.spec.name}
      spec:
        engine: ${schema.spec.engine}
        storageGB: '${schema.spec.size > 0 ? schema.spec.size : omit()}'
        version: "16"
        parameters:
          owner: ${schema.metadata.name}
          shared: ${shared.metadata.name}
    readyWhen:
    - ${db.status.ready}
  - id: cells
    forEach:
    - region: ${schema.spec.regions}
    - tier: ${schema.spec.tiers}
    template:
      apiVersion: example.com/v1
      kind: Database
      metadata:
        name: ${db.metadata.name}-${region}-${tier}
      spec:
        engine: ${db.spec.engine}
    readyWhen:
    - ${each.status.ready}
  - id: backup
    includeWhen:
    - ${schema.spec.backup}
    template:
      apiVersion: storage.example.com/v1alpha1
      kind: Bucket
      metadata:
        name: ${db.metadata.name}-backup
      spec:
        lifecycleDays: ${db.status.port / schema.spec.size}
  - id: shared
    externalRef:
      apiVersion: example.com/v1
      kind: Database
      metadata:
        name: ${schema.spec.sharedName}
  - id: peers
    externalRef:
      apiVersion: example.com/v1
      kind: Database
      metadata:
        selector:
          matchLabels:
            team: ${schema.spec.team}
`

func evalScope(spec map[string]any) graph.Scope {
	return graph.Scope{
		Instance: map[string]any{
			"apiVersion": "kro.run/v1alpha1", "kind": "Eval",
			"metadata": map[string]any{"name": "demo", "namespace": "team-a", "uid": "1234"},
			"spec":     spec,
		},
		Observed: map[string]any{"shared": map[string]any{"metadata": map[string]any{"name": "shared"}}},
	}
}

func TestRenderTemplate(t *testing.T) {
	g := mustCompile(t, parseRGD(t, []byte(evalRGD)))
	require.Equal(t, []string{"shared", "db", "cells", "backup", "peers"}, g.TopologicalOrder)
	require.Equal(t, []string{"shared"}, g.Node("db").Dependencies)
	require.Equal(t, []string{"db"}, g.Node("cells").Dependencies)

	t.Run("standalone, string templates and omit", func(t *testing.T) {
		s := evalScope(map[string]any{"name": "shop", "engine": "mysql", "size": int64(0)})
		objs, err := g.Node("db").Render(t.Context(), s, graph.RenderOptions{})
		require.NoError(t, err)
		require.Equal(t, map[string]any{
			"apiVersion": "example.com/v1", "kind": "Database",
			"metadata": map[string]any{"name": "shop-db", "namespace": "team-a", "labels": map[string]any{"app": "shop"}},
			"spec": map[string]any{"engine": "mysql", "version": "16",
				"parameters": map[string]any{"owner": "demo", "shared": "shared"}},
		}, objs[0].Object, "storageGB is omitted when size is 0")

		s = evalScope(map[string]any{"name": "shop", "engine": "mysql", "size": int64(5)})
		objs, err = g.Node("db").Render(t.Context(), s, graph.RenderOptions{})
		require.NoError(t, err)
		require.Equal(t, int64(5), objs[0].Object["spec"].(map[string]any)["storageGB"])
	})

	t.Run("explicit namespace is kept", func(t *testing.T) {
		s := evalScope(map[string]any{"name": "x", "engine": "postgres", "size": int64(0)})
		s.Instance["metadata"] = map[string]any{"name": "demo"}
		objs, err := g.Node("db").Render(t.Context(), s, graph.RenderOptions{})
		require.NoError(t, err)
		require.Equal(t, "", objs[0].GetNamespace(), "no instance namespace, nothing to default")
	})

	t.Run("pending upstream vs skip pending", func(t *testing.T) {
		s := evalScope(map[string]any{"name": "x", "engine": "postgres", "size": int64(0)})
		delete(s.Observed, "shared")
		_, err := g.Node("db").Render(t.Context(), s, graph.RenderOptions{})
		var pe *graph.PendingError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, "shared", pe.Waiting)
		require.Equal(t, "spec.resources[0].template.spec.parameters.shared", pe.Path)

		objs, err := g.Node("db").Render(t.Context(), s, graph.RenderOptions{SkipPending: true})
		require.NoError(t, err)
		params := objs[0].Object["spec"].(map[string]any)["parameters"].(map[string]any)
		require.Equal(t, map[string]any{"owner": "demo"}, params)
	})

	t.Run("pending field of an observed object", func(t *testing.T) {
		s := evalScope(map[string]any{"name": "x", "backup": true, "size": int64(2)})
		s.Observed["db"] = map[string]any{"metadata": map[string]any{"name": "x-db"}, "spec": map[string]any{}}
		_, err := g.Node("backup").Render(t.Context(), s, graph.RenderOptions{})
		require.True(t, errors.Is(err, graph.ErrPending), "%v", err)
		require.Contains(t, err.Error(), "status")
	})

	t.Run("non-pending failure is an EvalError", func(t *testing.T) {
		s := evalScope(map[string]any{"name": "x", "backup": true, "size": int64(0)})
		s.Observed["db"] = map[string]any{"metadata": map[string]any{"name": "x-db"}, "status": map[string]any{"port": int64(5432)}}
		_, err := g.Node("backup").Render(t.Context(), s, graph.RenderOptions{})
		var ee *graph.EvalError
		require.ErrorAs(t, err, &ee)
		require.False(t, errors.Is(err, graph.ErrPending))
		require.Contains(t, err.Error(), "division by zero")
	})
}

func TestRenderCollection(t *testing.T) {
	g := mustCompile(t, parseRGD(t, []byte(evalRGD)))
	s := evalScope(map[string]any{"name": "shop", "regions": []any{"eu", "us"}, "tiers": []any{"a", "b", "c"}})
	s.Observed["db"] = map[string]any{"metadata": map[string]any{"name": "shop-db"}, "spec": map[string]any{"engine": "postgres"}}
	objs, err := g.Node("cells").Render(t.Context(), s, graph.RenderOptions{})
	require.NoError(t, err)
	var names []string
	for _, o := range objs {
		names = append(names, o.GetName())
		require.Equal(t, "team-a", o.GetNamespace())
	}
	require.Equal(t, []string{
		"shop-db-eu-a", "shop-db-eu-b", "shop-db-eu-c",
		"shop-db-us-a", "shop-db-us-b", "shop-db-us-c",
	}, names, "first iterator outermost")

	t.Run("empty dimension gives no objects", func(t *testing.T) {
		s := evalScope(map[string]any{"name": "shop", "regions": []any{}, "tiers": []any{"a"}})
		s.Observed["db"] = map[string]any{"metadata": map[string]any{"name": "shop-db"}, "spec": map[string]any{"engine": "postgres"}}
		objs, err := g.Node("cells").Render(t.Context(), s, graph.RenderOptions{})
		require.NoError(t, err)
		require.Empty(t, objs)
	})

	t.Run("size cap", func(t *testing.T) {
		opts := graph.DefaultOptions()
		opts.MaxCollectionSize = 5
		g, errs := graph.Compile(parseRGD(t, []byte(evalRGD)), testResolver(t), opts)
		require.Empty(t, errs)
		_, err := g.Node("cells").Render(t.Context(), s, graph.RenderOptions{})
		require.ErrorContains(t, err, "more than 5 objects")
	})
}

func TestIncludedAndReady(t *testing.T) {
	g := mustCompile(t, parseRGD(t, []byte(evalRGD)))
	s := evalScope(map[string]any{"name": "x", "backup": false})
	inc, err := g.Node("backup").Included(t.Context(), s)
	require.NoError(t, err)
	require.False(t, inc)
	inc, err = g.Node("db").Included(t.Context(), s)
	require.NoError(t, err)
	require.True(t, inc)

	ready, err := g.Node("db").Ready(t.Context(), s)
	require.NoError(t, err)
	require.False(t, ready, "a missing object is not ready")
	s.Observed["db"] = map[string]any{"status": map[string]any{"ready": false}}
	ready, err = g.Node("db").Ready(t.Context(), s)
	require.NoError(t, err)
	require.False(t, ready)
	s.Observed["db"] = map[string]any{"status": map[string]any{"ready": true}}
	ready, err = g.Node("db").Ready(t.Context(), s)
	require.NoError(t, err)
	require.True(t, ready)

	s.Observed["cells"] = []any{}
	ready, err = g.Node("cells").Ready(t.Context(), s)
	require.NoError(t, err)
	require.True(t, ready, "an empty collection is ready")
	s.Observed["cells"] = []any{
		map[string]any{"status": map[string]any{"ready": true}},
		map[string]any{"status": map[string]any{"ready": false}},
	}
	ready, err = g.Node("cells").Ready(t.Context(), s)
	require.NoError(t, err)
	require.False(t, ready, "every item must satisfy readyWhen")
	s.Observed["cells"].([]any)[1] = map[string]any{"status": map[string]any{"ready": true}}
	ready, err = g.Node("cells").Ready(t.Context(), s)
	require.NoError(t, err)
	require.True(t, ready)

	s.Observed["shared"] = map[string]any{}
	ready, err = g.Node("shared").Ready(t.Context(), s)
	require.NoError(t, err)
	require.True(t, ready, "without readyWhen an existing object is ready")
}

func TestProjectStatus(t *testing.T) {
	g := mustCompile(t, parseRGD(t, []byte(evalRGD)))
	s := evalScope(map[string]any{"name": "x"})
	st, pending, err := g.ProjectStatus(t.Context(), s)
	require.NoError(t, err)
	require.Len(t, pending, 5)
	require.Empty(t, st)

	s.Observed["db"] = map[string]any{"metadata": map[string]any{"name": "x-db"}, "status": map[string]any{"endpoint": "db:5432", "port": int64(5432)}}
	s.Observed["cells"] = []any{map[string]any{"metadata": map[string]any{"name": "c1"}}}
	st, pending, err = g.ProjectStatus(t.Context(), s)
	require.NoError(t, err)
	require.Empty(t, pending)
	require.Equal(t, map[string]any{
		"endpoint": "db:5432",
		"summary":  "x-db on db:5432",
		"info":     map[string]any{"port": int64(5432), "regions": int64(1)},
		"names":    []any{"c1"},
	}, st)

	status := g.CRD.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"]
	require.Equal(t, "string", status.Properties["endpoint"].Type)
	require.Equal(t, "string", status.Properties["summary"].Type)
	require.Equal(t, "integer", status.Properties["info"].Properties["port"].Type)
	require.Equal(t, "array", status.Properties["names"].Type)
	require.Equal(t, "string", status.Properties["names"].Items.Schema.Type)
	require.Equal(t, "string", status.Properties["state"].Type)
	require.Equal(t, "array", status.Properties["conditions"].Type)
}

func TestResolveExternal(t *testing.T) {
	g := mustCompile(t, parseRGD(t, []byte(evalRGD)))
	s := evalScope(map[string]any{"name": "x", "sharedName": "main", "team": "payments"})
	tgt, err := g.Node("shared").ResolveExternal(t.Context(), s)
	require.NoError(t, err)
	require.Equal(t, "main", tgt.Name)
	require.Equal(t, "team-a", tgt.Namespace, "namespace defaults to the instance's")
	require.Nil(t, tgt.Selector)
	require.False(t, g.Node("shared").Collection)

	tgt, err = g.Node("peers").ResolveExternal(t.Context(), s)
	require.NoError(t, err)
	require.Equal(t, "team=payments", tgt.Selector.String())
	require.Empty(t, tgt.Namespace, "a selector without a namespace lists every namespace")
	require.True(t, g.Node("peers").Collection)

	_, err = g.Node("db").ResolveExternal(t.Context(), s)
	require.Error(t, err)
}

func TestGeneratedCRD(t *testing.T) {
	g := mustCompile(t, parseRGD(t, []byte(evalRGD)))
	crd := g.CRD
	require.Equal(t, "evals.kro.run", crd.Name)
	require.Equal(t, "true", crd.Labels["kro.run/owned"])
	require.Equal(t, "eval", crd.Labels["kro.run/resource-graph-definition-name"])
	require.Equal(t, "Eval", crd.Spec.Names.Kind)
	require.Equal(t, "eval", crd.Spec.Names.Singular)
	require.Len(t, crd.Spec.Versions, 1)
	v := crd.Spec.Versions[0]
	require.True(t, v.Served && v.Storage)
	require.NotNil(t, v.Subresources.Status)
	require.Equal(t, []string{"State", "Ready", "Age"}, []string{v.AdditionalPrinterColumns[0].Name, v.AdditionalPrinterColumns[1].Name, v.AdditionalPrinterColumns[2].Name})
	require.Equal(t, graph.InstanceKind{GVK: crd.GroupVersionKind().GroupVersion().WithKind("Eval"), Resource: "evals", Namespaced: true}.Resource, g.Instance.Resource)
}
