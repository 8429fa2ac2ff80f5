package graph_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/korvid/korvid/internal/graph"
)

// bigRGD builds an RGD with n resources chained in pairs, alternating
// Database and Bucket kinds, each with a handful of expressions.
func bigRGD(n int) string {
	var b strings.Builder
	b.WriteString(`apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: big
spec:
  schema:
    apiVersion: v1alpha1
    kind: Big
    spec:
      name: string | required=true
      engine: string | default="postgres"
      size: integer | default=10
      users: "[]string | maxItems=10"
    status:
      first: ${r0.metadata.name}
  resources:
`)
	for i := 0; i < n; i++ {
		dep := "schema.spec.name"
		if i > 0 {
			dep = fmt.Sprintf("r%d.metadata.name", i-1)
		}
		if i%2 == 0 {
			fmt.Fprintf(&b, `  - id: r%d
    template:
      apiVersion: example.com/v1
      kind: Database
      metadata:
        name: ${%s}-%d
        labels:
          app: ${schema.spec.name}
      spec:
        engine: ${schema.spec.engine}
        storageGB: ${schema.spec.size * 2}
        users: '${schema.spec.users.map(u, {"name": u})}'
        parameters:
          owner: ${schema.metadata.name}
    readyWhen:
    - ${r%d.status.?ready.orValue(false)}
`, i, dep, i, i)
		} else {
			fmt.Fprintf(&b, `  - id: r%d
    template:
      apiVersion: storage.example.com/v1alpha1
      kind: Bucket
      metadata:
        name: ${%s}-%d
      spec:
        region: eu-west-1
        lifecycleDays: ${schema.spec.size}
        tags:
          team: ${schema.spec.name}
`, i, dep, i)
		}
	}
	return b.String()
}

func benchCompile(b *testing.B, n int) {
	rgd := parseRGD(b, []byte(bigRGD(n)))
	res := testResolver(b)
	_, errs := graph.Compile(rgd, res, graph.DefaultOptions()) // warm the resolver and caches
	require.Empty(b, errs)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, errs := graph.Compile(rgd, res, graph.DefaultOptions()); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}

func BenchmarkCompile3(b *testing.B)  { benchCompile(b, 3) }
func BenchmarkCompile25(b *testing.B) { benchCompile(b, 25) }

func BenchmarkRender(b *testing.B) {
	g, errs := graph.Compile(parseRGD(b, []byte(bigRGD(1))), testResolver(b), graph.DefaultOptions())
	require.Empty(b, errs)
	n := g.Node("r0")
	s := graph.Scope{
		Instance: map[string]any{
			"metadata": map[string]any{"name": "demo", "namespace": "ns"},
			"spec":     map[string]any{"name": "shop", "engine": "postgres", "size": int64(10), "users": []any{"a", "b"}},
		},
		Observed: map[string]any{},
	}
	_, err := n.Render(b.Context(), s, graph.RenderOptions{})
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := n.Render(b.Context(), s, graph.RenderOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
