package graph_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/korvid/korvid/internal/graph"
)

// Compiling from the shared caches (parsed expressions, verdicts on
// generated CRDs) gives what compiling afresh gives: every error of the
// invalid corpus word for word, and for the valid corpus the same CRD (its
// status schema is typed from the checked expressions), nodes, order and
// dependencies.
func TestCompileFromCachesMatchesFreshCompile(t *testing.T) {
	errorsOf := func(errs field.ErrorList) []string {
		out := make([]string, len(errs))
		for i, e := range errs {
			out[i] = e.Error()
		}
		return out
	}
	cached := 0
	for _, dir := range []string{"valid", "invalid"} {
		for _, f := range corpusFiles(t, dir) {
			t.Run(dir+"/"+filepath.Base(f), func(t *testing.T) {
				rgd := loadRGD(t, f)
				graph.ClearCompileCaches()
				fresh, freshErrs := graph.Compile(rgd.DeepCopy(), testResolver(t), graph.DefaultOptions())
				n, crds := graph.ParseCacheLen(), graph.CRDCacheLen()
				cached += n
				again, againErrs := graph.Compile(rgd.DeepCopy(), testResolver(t), graph.DefaultOptions())
				require.Equal(t, n, graph.ParseCacheLen(), "the second compile parses nothing the first did not")
				require.Equal(t, crds, graph.CRDCacheLen(), "the second compile validates no CRD the first did not")
				require.Equal(t, errorsOf(freshErrs), errorsOf(againErrs))
				require.Equal(t, fresh == nil, again == nil)
				if fresh == nil {
					return
				}
				require.Equal(t, fresh.CRD, again.CRD)
				require.Equal(t, fresh.TopologicalOrder, again.TopologicalOrder)
				require.Len(t, again.Nodes, len(fresh.Nodes))
				for i, n := range fresh.Nodes {
					require.Equal(t, n.ID, again.Nodes[i].ID)
					require.Equal(t, n.Dependencies, again.Nodes[i].Dependencies, "dependencies of %s", n.ID)
				}
			})
		}
	}
	require.Positive(t, cached, "the corpus went through the cache")
}

// Compiles running at once share the cached parses (the webhook admits
// RGDs concurrently): each must get an AST of its own to rewrite and check.
// Run with -race.
func TestConcurrentCompilesShareCachedParses(t *testing.T) {
	rgd := loadRGD(t, filepath.Join(testdataDir, "rgd", "valid", "webapp.yaml"))
	mustCompile(t, rgd.DeepCopy())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 3 {
				g, errs := graph.Compile(rgd.DeepCopy(), testResolver(t), graph.DefaultOptions())
				assert.Empty(t, errs)
				assert.NotNil(t, g)
			}
		})
	}
	wg.Wait()
}
