package graph_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// TestGoldenCRDs compares the generated CRDs of a few valid RGDs with
// testdata/golden. Regenerate with UPDATE_GOLDEN=1.
func TestGoldenCRDs(t *testing.T) {
	for _, name := range []string{"database-crd", "custom-group-namespaced-child", "crd-metadata", "printer-columns", "webapp"} {
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
