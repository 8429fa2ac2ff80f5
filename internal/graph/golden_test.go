package graph_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// TestGoldenCRDs compares the generated CRD of every RGD of the valid corpus
// with testdata/golden. Regenerate with UPDATE_GOLDEN=1.
func TestGoldenCRDs(t *testing.T) {
	files := corpusFiles(t, "valid")
	require.NotEmpty(t, files)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			g := mustCompile(t, loadRGD(t, filepath.Join(testdataDir, "rgd", "valid", name+".yaml")))
			got, err := yaml.Marshal(g.CRD)
			require.NoError(t, err)
			path := filepath.Join(testdataDir, "golden", name+".crd.yaml")
			if os.Getenv("UPDATE_GOLDEN") != "" {
				require.NoError(t, os.WriteFile(path, got, 0o644))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "missing golden file; run with UPDATE_GOLDEN=1")
			require.Equal(t, strings.TrimSpace(string(want)), strings.TrimSpace(string(got)))
		})
	}
}
