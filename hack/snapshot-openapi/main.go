// Command snapshot-openapi starts a kube-apiserver with envtest and writes the
// discovery and OpenAPI v3 documents of its built-in kinds to the snapshot
// that internal/graph/resolver embeds.
//
//	go run ./hack/snapshot-openapi -assets bin/k8s/v1.37.1 -out internal/graph/resolver/builtin/openapi.json.gz
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/korvid/korvid/internal/graph/resolver"
)

func main() {
	assets := flag.String("assets", "bin/k8s/v1.37.1", "directory holding the kube-apiserver and etcd binaries")
	out := flag.String("out", "internal/graph/resolver/builtin/openapi.json.gz", "snapshot file to write")
	flag.Parse()
	if err := run(*assets, *out); err != nil {
		fmt.Fprintln(os.Stderr, "snapshot-openapi:", err)
		os.Exit(1)
	}
}

func run(assets, out string) error {
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the API server: %w", err)
	}
	defer func() { _ = env.Stop() }()

	d, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	version, err := d.ServerVersion()
	if err != nil {
		return fmt.Errorf("reading the server version: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A kube-apiserver built from source without version stamping reports
	// v0.0.0; the assets directory is named after the version then.
	release := version.GitVersion
	if strings.HasPrefix(release, "v0.0.0") {
		release = filepath.Base(assets)
	}
	var buf bytes.Buffer
	if err := resolver.WriteSnapshot(ctx, d, "kube-apiserver "+release, &buf); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d bytes) from kube-apiserver %s\n", out, buf.Len(), release)
	return nil
}
