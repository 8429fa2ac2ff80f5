package localcluster

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// KwokStages returns the node and pod stage manifests that ship in the kwok
// module ("fast": nodes ready at once, pods ready as soon as scheduled).
func KwokStages(version string) ([]string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", "sigs.k8s.io/kwok@"+version)
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("locating the kwok %s module: %w", version, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return nil, fmt.Errorf("locating the kwok %s module: unexpected `go mod download` output %q", version, out)
	}
	var files []string
	for _, dir := range []string{"kustomize/stage/node/fast", "kustomize/stage/pod/fast"} {
		matches, err := filepath.Glob(filepath.Join(mod.Dir, dir, "*.yaml"))
		if err != nil {
			return nil, fmt.Errorf("listing kwok stages: %w", err)
		}
		for _, m := range matches {
			if !strings.HasSuffix(m, "kustomization.yaml") {
				files = append(files, m)
			}
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no stage manifests in the kwok %s module at %s", version, mod.Dir)
	}
	return files, nil
}
