package version

import (
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestResolve(t *testing.T) {
	info := func(version string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/korvid/korvid", Version: version}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tc := range []struct {
		name, set string
		info      func() (*debug.BuildInfo, bool)
		want      string
	}{
		{"set at build time", "v0.3.0-4-g1a2b3c4-dirty", info("v9.9.9"), "v0.3.0-4-g1a2b3c4-dirty"},
		{"a bare commit from git describe --always", "1a2b3c4", none, "1a2b3c4"},
		{"go install of a tagged module", "", info("v0.3.0"), "v0.3.0"},
		{"a Go pseudo-version with +dirty", "", info("v0.3.1-0.20261201000000-1a2b3c4d5e6f+dirty"), "v0.3.1-0.20261201000000-1a2b3c4d5e6f-dirty"},
		{"a local build: the VCS revision", "", info("(devel)", "vcs.revision", "1a2b3c4d5e6f7a8b9c0d", "vcs.modified", "false"), "1a2b3c4d5e6f"},
		{"a local build with changes", "", info("(devel)", "vcs.revision", "1a2b3c4d5e6f7a8b9c0d", "vcs.modified", "true"), "1a2b3c4d5e6f-dirty"},
		{"no version information", "", info("(devel)"), Fallback},
		{"no build information", "", none, Fallback},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resolve(tc.set, tc.info)
			assert.Equal(t, tc.want, got)
			assert.Empty(t, validation.IsValidLabelValue(got), "%q is stamped as a label value", got)
		})
	}
}

func TestLabelValue(t *testing.T) {
	long := "v1.0.0-" + strings.Repeat("a", 80)
	for _, v := range []string{long, "+dirty", "v1.0.0 (local)", "-v1-", "v1/beta"} {
		assert.Empty(t, validation.IsValidLabelValue(labelValue(v)), "%q -> %q", v, labelValue(v))
	}
}

// TestMakefileStampsTheVersion checks that `make build` and the image build
// pass git describe's answer to the linker.
func TestMakefileStampsTheVersion(t *testing.T) {
	_, file, _, ok := goruntime.Caller(0)
	require.True(t, ok)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	describe := exec.Command("git", "describe", "--tags", "--always", "--dirty")
	describe.Dir = root
	want, err := describe.Output()
	require.NoError(t, err, "git describe")
	for _, target := range []string{"build", "docker-build"} {
		cmd := exec.Command("make", "-n", target)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "make -n %s: %s", target, out)
		assert.Contains(t, string(out), strings.TrimSpace(string(want)), "make %s passes the version", target)
		if target == "build" {
			assert.Contains(t, string(out), "-X github.com/korvid/korvid/internal/version.Version=")
		} else {
			assert.Contains(t, string(out), "--build-arg VERSION=")
		}
	}
}
