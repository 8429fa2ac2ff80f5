package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/korvid/korvid/test/envtest"
)

// TestKubeconfigResolvesKindsFromTheCluster starts a control plane serving
// the corpus CRDs and checks that --kubeconfig resolves kinds from it: the
// Database kind, unknown offline without --crds, resolves there.
func TestKubeconfigResolvesKindsFromTheCluster(t *testing.T) {
	const rgd = "testdata/rgd/valid/database-crd.yaml"
	r := run(t, "validate", "-f", rgd)
	require.Equal(t, ExitInvalid, r.code, "offline without --crds the Database kind is unknown:\n%s", r.stdout)
	assert.Contains(t, r.stdout, "kind not found")

	env, err := envtest.Start(envtest.Options{CRDDirectoryPaths: []string{"testdata/crds"}})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, env.Stop()) })
	user, err := env.Environment.AddUser(crenvtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	require.NoError(t, err)
	kc, err := user.KubeConfig()
	require.NoError(t, err)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, kc, 0o600))

	// The API server publishes a new CRD's OpenAPI a moment after serving it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = run(t, "validate", "-f", rgd, "--kubeconfig", kubeconfig)
		if r.code == ExitOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	require.Equal(t, ExitOK, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)

	r = run(t, "validate", "-f", "testdata/rgd/invalid/unknown-kind.yaml", "--kubeconfig", kubeconfig)
	require.Equal(t, ExitInvalid, r.code, r.stderr)
	assert.True(t, strings.Contains(r.stdout, "spec.resources[0].template.kind"), r.stdout)

	r = run(t, "validate", "-f", rgd, "--kubeconfig", filepath.Join(t.TempDir(), "missing"))
	require.Equal(t, ExitInput, r.code)
	assert.Contains(t, r.stderr, "reading --kubeconfig")
}
