package graph_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/korvid/korvid/internal/graph"
)

// expectation is one error an invalid RGD must produce.
type expectation struct {
	path    string
	message string
}

// readExpectations reads the leading comment lines of an invalid corpus
// file: "# path: <field path>" followed by "# message: <fragment>".
func readExpectations(t *testing.T, b []byte) []expectation {
	t.Helper()
	var out []expectation
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			break
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "#"))
		switch {
		case strings.HasPrefix(line, "path:"):
			out = append(out, expectation{path: strings.TrimSpace(strings.TrimPrefix(line, "path:"))})
		case strings.HasPrefix(line, "message:"):
			require.NotEmpty(t, out, "a message line must follow a path line")
			out[len(out)-1].message = strings.TrimSpace(strings.TrimPrefix(line, "message:"))
		}
	}
	return out
}

func corpusFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testdataDir, "rgd", dir, "*.yaml"))
	require.NoError(t, err)
	return files
}

func TestValidCorpusCompiles(t *testing.T) {
	files := corpusFiles(t, "valid")
	require.GreaterOrEqual(t, len(files), 25)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			g := mustCompile(t, loadRGD(t, f))
			require.NotNil(t, g.CRD)
			require.Len(t, g.TopologicalOrder, len(g.Nodes))
		})
	}
}

func TestInvalidCorpusIsRejected(t *testing.T) {
	files := corpusFiles(t, "invalid")
	require.GreaterOrEqual(t, len(files), 40)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			want := readExpectations(t, b)
			require.NotEmpty(t, want, "invalid corpus files start with '# path:' and '# message:' lines")
			g, errs := graph.Compile(parseRGD(t, b), testResolver(t), graph.DefaultOptions())
			require.Nil(t, g)
			require.NotEmpty(t, errs)
			for _, w := range want {
				found := false
				for _, e := range errs {
					if e.Field == w.path && strings.Contains(e.Error(), w.message) {
						found = true
						break
					}
				}
				require.True(t, found, "want an error at %s containing %q, got:\n%s", w.path, w.message, errs.ToAggregate())
			}
		})
	}
}
