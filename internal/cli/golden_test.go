package cli

import (
	"fmt"
	"strings"
	"testing"
)

// TestGoldenOutputs runs every command over examples/ and testdata/ and
// compares the exit code and both streams with testdata/golden/cli.
// Regenerate with UPDATE_GOLDEN=1.
func TestGoldenOutputs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"validate-examples.txt", []string{"validate", "-f", "examples/"}},
		{"validate-broken.txt", []string{"validate", "-f", "examples/broken/"}},
		{"validate-broken.json", []string{"validate", "-f", "examples/broken/", "-o", "json"}},
		{"validate-broken.github.txt", []string{"validate", "-f", "examples/broken/", "-o", "github"}},
		{"validate-valid-corpus.txt", []string{"validate", "-f", "testdata/rgd/valid", "--crds", "testdata/crds"}},
		{"validate-invalid-corpus.txt", []string{"validate", "-f", "testdata/rgd/invalid", "--crds", "testdata/crds"}},
		{"render-webapp.yaml", []string{"render", "-f", "examples/webapp/rgd.yaml", "-i", "examples/webapp/instance.yaml"}},
		{"render-collection.yaml", []string{"render", "-f", "examples/collection/rgd.yaml", "-i", "examples/collection/instance.yaml"}},
		{"render-externalref.yaml", []string{"render", "-f", "examples/externalref/rgd.yaml", "-i", "examples/externalref/instance.yaml"}},
		{"render-chained.yaml", []string{"render", "-f", "examples/webapp/rgd.yaml", "-f", "examples/chained/rgd.yaml", "-i", "examples/chained/instance.yaml"}},
		{"crd-webapp.yaml", []string{"crd", "-f", "examples/webapp/rgd.yaml"}},
		{"graph-webapp.txt", []string{"graph", "-f", "examples/webapp/rgd.yaml"}},
		{"graph-examples.dot", []string{"graph", "-f", "examples/", "-o", "dot"}},
		{"graph-examples.mermaid", []string{"graph", "-f", "examples/", "-o", "mermaid"}},
		{"diff-breaking.txt", []string{"diff", "testdata/cli/diff/old.yaml", "testdata/cli/diff/new.yaml"}},
		{"diff-breaking.json", []string{"diff", "testdata/cli/diff/old.yaml", "testdata/cli/diff/new.yaml", "-o", "json"}},
		{"diff-allowed.txt", []string{"diff", "testdata/cli/diff/old.yaml", "testdata/cli/diff/new-allowed.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args...)
			got := fmt.Sprintf("# korvid %s\n# exit code %d\n", strings.Join(tc.args, " "), r.code)
			if r.stderr != "" {
				got += "# stderr:\n" + prefixLines(r.stderr, "# | ")
			}
			got += r.stdout
			golden(t, tc.name, got)
		})
	}
}

func prefixLines(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}
