package graph_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
)

// FuzzCompile feeds RGD YAML to Compile, and renders what compiles: neither
// may panic on any input.
func FuzzCompile(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		files, _ := filepath.Glob(filepath.Join(testdataDir, "rgd", dir, "*.yaml"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err == nil {
				f.Add(b)
			}
		}
	}
	res := testResolver(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		// A hang is a failure too: fail the input instead of stalling.
		timer := time.AfterFunc(20*time.Second, func() { panic(fmt.Sprintf("Compile hung on %q", b)) })
		defer timer.Stop()
		rgd := &v1alpha1.ResourceGraphDefinition{}
		if err := yaml.Unmarshal(b, rgd); err != nil {
			return
		}
		g, errs := graph.Compile(rgd, res, graph.DefaultOptions())
		for _, e := range errs {
			if e.Type == "InternalError" {
				t.Fatalf("internal error: %v", e)
			}
		}
		if g == nil {
			return
		}
		s := graph.Scope{
			Instance: map[string]any{"metadata": map[string]any{"name": "x", "namespace": "ns"}, "spec": map[string]any{}},
			Observed: map[string]any{},
		}
		for _, n := range g.Nodes {
			_, _ = n.Included(t.Context(), s)
			if n.External {
				_, _ = n.ResolveExternal(t.Context(), s)
			} else {
				_, _ = n.Render(t.Context(), s, graph.RenderOptions{SkipPending: true})
			}
			_, _ = n.Ready(t.Context(), s)
		}
		_, _, _ = g.ProjectStatus(t.Context(), s)
	})
}
