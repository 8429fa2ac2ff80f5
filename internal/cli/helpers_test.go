package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMain runs the tests from the repository root, so file names in the
// outputs read as a user would type them (examples/webapp/rgd.yaml).
func TestMain(m *testing.M) {
	if err := os.Chdir("../.."); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// runResult is what one invocation of the command line produced.
type runResult struct {
	code           int
	stdout, stderr string
}

func run(t testing.TB, args ...string) runResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main("korvid", args, strings.NewReader(""), &out, &errOut)
	return runResult{code: code, stdout: out.String(), stderr: errOut.String()}
}

// golden compares got with testdata/golden/cli/<name>.golden; UPDATE_GOLDEN=1
// rewrites the file instead.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", "cli", name+".golden")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file %s; run the test with UPDATE_GOLDEN=1 to write it", path)
	require.Equal(t, string(want), got, "output differs from %s; if the change is intended, regenerate with UPDATE_GOLDEN=1", path)
}

// writeFile writes a file under a temporary directory and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}
