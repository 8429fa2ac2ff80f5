package graph_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/korvid/korvid/internal/graph"
)

func TestDumpInvalid(t *testing.T) {
	if os.Getenv("DUMP") == "" {
		t.Skip()
	}
	for _, f := range corpusFiles(t, os.Getenv("DUMP")) {
		b, _ := os.ReadFile(f)
		_, errs := graph.Compile(parseRGD(t, b), testResolver(t), graph.DefaultOptions())
		t.Logf("== %s", filepath.Base(f))
		for _, e := range errs {
			t.Logf("   %s", e)
		}
	}
}
