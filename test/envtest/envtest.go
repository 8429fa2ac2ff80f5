// Package envtest starts a real kube-apiserver and etcd, built from source by
// the Makefile, with korvid's CRDs installed. Every integration suite uses it:
// one control plane per test package, started from TestMain.
package envtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"testing"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	korvidscheme "github.com/korvid/korvid/internal/scheme"
)

// KubeVersion is the version of the control plane binaries the Makefile builds.
// Keep it in step with KUBE_VERSION in the Makefile.
const KubeVersion = "v1.37.1"

// Options adjust the control plane of one suite.
type Options struct {
	// CRDDirectoryPaths are installed in addition to korvid's own CRDs.
	CRDDirectoryPaths []string
	// CRDs are installed in addition to korvid's own CRDs.
	CRDs []*extv1.CustomResourceDefinition
	// WebhookInstallOptions register webhook configurations with the apiserver.
	WebhookInstallOptions crenvtest.WebhookInstallOptions
	// APIServerArgs are extra kube-apiserver flags (name without dashes -> value).
	APIServerArgs map[string]string
}

// Env is a running control plane.
type Env struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
	// Environment is the underlying controller-runtime test environment.
	Environment *crenvtest.Environment
}

// RepoRoot returns the root of the korvid repository.
func RepoRoot() string {
	_, file, _, ok := goruntime.Caller(0)
	if !ok {
		return "."
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// BinaryDir returns the directory holding kube-apiserver and etcd: the
// KUBEBUILDER_ASSETS environment variable when set, else the Makefile's
// bin/k8s/<KubeVersion>.
func BinaryDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "bin", "k8s", KubeVersion)
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("control plane binary %s missing in %s (run `make control-plane` or `make test`): %w", name, dir, err)
		}
	}
	return dir, nil
}

// NewScheme returns a scheme with the built-in kinds, CRDs and korvid's API.
func NewScheme() *runtime.Scheme { return korvidscheme.New() }

// Start starts kube-apiserver and etcd and installs korvid's CRDs.
func Start(opts Options) (*Env, error) {
	dir, err := BinaryDir()
	if err != nil {
		return nil, err
	}
	scheme := NewScheme()
	env := &crenvtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     append([]string{filepath.Join(RepoRoot(), "deploy", "kustomize", "crd", "bases")}, opts.CRDDirectoryPaths...),
		CRDs:                  opts.CRDs,
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
		WebhookInstallOptions: opts.WebhookInstallOptions,
	}
	args := env.ControlPlane.GetAPIServer().Configure()
	// The default /24 service range runs out after 254 Services.
	args.Set("service-cluster-ip-range", "10.96.0.0/12")
	keys := make([]string, 0, len(opts.APIServerArgs))
	for k := range opts.APIServerArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args.Set(k, opts.APIServerArgs[k])
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting control plane: %w", err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("building client: %w", err), env.Stop())
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, Environment: env}, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error {
	if e == nil || e.Environment == nil {
		return nil
	}
	return e.Environment.Stop()
}

// Main runs a package's tests against one control plane, for TestMain:
//
//	var env *envtest.Env
//	func TestMain(m *testing.M) { envtest.Main(m, envtest.Options{}, &env) }
func Main(m *testing.M, opts Options, env **Env) {
	e, err := Start(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping control plane:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
