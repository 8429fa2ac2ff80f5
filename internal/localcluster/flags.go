package localcluster

import (
	"flag"
	"fmt"
	"path/filepath"
)

// Flags are the command-line options of the commands that start a local
// cluster (hack/run-local, hack/bench-e2e).
type Flags struct {
	Options
	// KwokVersion is the kwok module whose stage manifests make nodes and
	// pods ready.
	KwokVersion string
}

// AddFlags registers the flags on fs; dir is the default of -dir.
func (f *Flags) AddFlags(fs *flag.FlagSet, dir string) {
	fs.StringVar(&f.KwokVersion, "kwok-version", "v0.8.0", "kwok module version whose stage manifests make nodes and pods ready")
	fs.StringVar(&f.Dir, "dir", dir, "directory for all cluster state (recreated on every start)")
	fs.StringVar(&f.ControlPlaneDir, "control-plane-dir", "bin/k8s/v1.37.1", "directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and kubectl")
	fs.StringVar(&f.KorvidBinDir, "bin-dir", "bin", "directory with the webhook and controller binaries")
	fs.StringVar(&f.RepoRoot, "repo-root", ".", "korvid checkout (deploy/kustomize is read from it)")
	fs.IntVar(&f.Nodes, "nodes", 2, "number of fake nodes")
	fs.IntVar(&f.PodsPerNode, "pods-per-node", 5000, "pod capacity of each fake node")
	fs.IntVar(&f.ClientQPS, "kube-api-qps", 500, "client QPS of kube-controller-manager and kube-scheduler")
	fs.IntVar(&f.ClientBurst, "kube-api-burst", 1000, "client burst of kube-controller-manager and kube-scheduler")
	fs.IntVar(&f.ConcurrentSyncs, "concurrent-syncs", 50, "workers of kube-controller-manager's deployment, replicaset, endpoint, garbage collector and namespace controllers")
}

// Resolve returns the options with absolute directories and kwok's stage
// files.
func (f *Flags) Resolve() (Options, error) {
	o := f.Options
	stages, err := KwokStages(f.KwokVersion)
	if err != nil {
		return o, err
	}
	o.KwokStageFiles = stages
	for _, p := range []*string{&o.Dir, &o.ControlPlaneDir, &o.KorvidBinDir, &o.RepoRoot} {
		if *p, err = filepath.Abs(*p); err != nil {
			return o, fmt.Errorf("resolving %s: %w", *p, err)
		}
	}
	return o, nil
}
