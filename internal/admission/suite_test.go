package admission

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/korvid/korvid/internal/options"
	"github.com/korvid/korvid/internal/trust"
	"github.com/korvid/korvid/test/envtest"
)

var env *envtest.Env

// The suite installs the real webhook configurations (the controller-gen
// output and the instance shells of deploy/kustomize/webhook) pointing at a
// webhook server started in this process, over TLS with envtest's CA.
func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	mut, val, err := envtest.KorvidWebhooks()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// envtest.Main, with the webhook manager stopped before the control
	// plane so the API server is not kept waiting on its watches.
	env, err = envtest.Start(envtest.Options{
		CRDDirectoryPaths:     []string{filepath.Join(testdata, "crds")},
		WebhookInstallOptions: crenvtest.WebhookInstallOptions{MutatingWebhooks: mut, ValidatingWebhooks: val},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	stopWebhook()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping control plane:", err)
	}
	os.Exit(code)
}

// testPolicy forbids CronJobs in the suite's webhook.
const testPolicy = `
name: suite-policy
forbidden:
- group: scheduling.k8s.io
  kind: PriorityClass
  reason: priorities are owned by the platform team
`

// suite is the running webhook of the package's tests.
type suite struct {
	server    *Server
	probeAddr string
	certDir   string
	hostPort  string
	caData    []byte
}

var (
	stopManager context.CancelFunc = func() {}
	managerDone                    = make(chan struct{})
)

func stopWebhook() {
	if theSuite == nil {
		return
	}
	stopManager()
	select {
	case <-managerDone:
	case <-time.After(10 * time.Second):
	}
}

var (
	suiteOnce sync.Once
	theSuite  *suite
	suiteErr  error
)

// webhookServer starts the webhook once per package with the production
// wiring (ManagerOptions' pieces and setup) and waits until it is ready.
func webhookServer(t testing.TB) *suite {
	t.Helper()
	suiteOnce.Do(func() { theSuite, suiteErr = startWebhook() })
	require.NoError(t, suiteErr)
	return theSuite
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func startWebhook() (*suite, error) {
	wio := env.Environment.WebhookInstallOptions
	probe, err := freePort()
	if err != nil {
		return nil, err
	}
	policy := filepath.Join(wio.LocalServingCertDir, "..", "korvid-policy-"+filepath.Base(wio.LocalServingCertDir)+".yaml")
	if err := os.WriteFile(policy, []byte(testPolicy), 0o600); err != nil {
		return nil, err
	}
	opts := options.NewWebhook()
	opts.CertDir, opts.Port = wio.LocalServingCertDir, wio.LocalServingPort
	opts.HealthProbeBindAddress, opts.MetricsBindAddress = probe, "0"
	opts.Trust.PolicyFile = policy
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	// The controller creates the signing key of author records; the webhook
	// waits for it.
	if err := ensureSigningKey(opts.Trust); err != nil {
		return nil, err
	}
	mo := ManagerOptions(opts, env.Scheme)
	mo.Metrics = metricsserver.Options{BindAddress: "0"}
	mo.WebhookServer = webhook.NewServer(webhook.Options{Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir})
	mgr, err := manager.New(env.Config, mo)
	if err != nil {
		return nil, err
	}
	s, err := setup(mgr, opts)
	if err != nil {
		return nil, err
	}
	mctx, cancel := context.WithCancel(context.Background())
	stopManager = cancel
	go func() {
		defer close(managerDone)
		if err := mgr.Start(mctx); err != nil {
			fmt.Fprintln(os.Stderr, "webhook manager stopped:", err)
		}
	}()
	st := &suite{server: s, probeAddr: probe, certDir: wio.LocalServingCertDir, caData: wio.LocalServingCAData,
		hostPort: net.JoinHostPort(wio.LocalServingHost, fmt.Sprint(wio.LocalServingPort))}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + probe + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return st, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("the webhook did not become ready")
}

// ensureSigningKey creates korvid's namespace and the signing key Secret, as
// the controller does at start.
func ensureSigningKey(o *options.Trust) error {
	key, err := o.SigningKey()
	if err != nil {
		return err
	}
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: key.Namespace}}
	if err := env.Client.Create(c, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	_, err = trust.EnsureSigningKey(c, env.Client, key)
	return err
}

// ctx returns a context bounded for one test.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// warningClient returns a client that records the API server's warnings.
func warningClient(t testing.TB, cfg *rest.Config) (client.Client, *warningLog) {
	t.Helper()
	w := &warningLog{}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	require.NoError(t, err)
	return c, w
}

type warningLog struct {
	mu   sync.Mutex
	list []string
}

func (w *warningLog) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warningLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// servingCert dials the webhook and returns the certificate it presents.
func servingCert(t testing.TB, hostPort string) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", hostPort, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only reads the presented certificate
	require.NoError(t, err)
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	require.NotEmpty(t, certs)
	return certs[0]
}

// establish creates a CRD and waits until its kind is served.
func establish(t testing.TB, crd *extv1.CustomResourceDefinition) {
	t.Helper()
	c := ctx(t)
	crd = crd.DeepCopy()
	crd.ResourceVersion = ""
	err := env.Client.Create(c, crd)
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		got := &extv1.CustomResourceDefinition{}
		return env.Client.Get(c, client.ObjectKey{Name: crd.Name}, got) == nil && apihelpers.IsCRDConditionTrue(got, extv1.Established)
	}, 30*time.Second, 50*time.Millisecond)
}
