// Package localcluster runs a containerless Kubernetes cluster on one
// machine for trying korvid out: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok (fake nodes whose pods become ready without a
// container runtime), with korvid's CRDs and webhook configurations installed
// and the korvid webhook and controller binaries running against it. All
// state lives under one directory and is recreated on every start, so a run
// that follows a crash starts clean.
package localcluster

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Options configure a local cluster. Zero values take the defaults below.
type Options struct {
	// Dir holds all state: PKI, etcd data, logs, kubeconfig, pid file.
	Dir string
	// ControlPlaneDir holds etcd, kube-apiserver, kube-controller-manager,
	// kube-scheduler and kwok.
	ControlPlaneDir string
	// KorvidBinDir holds the webhook and controller binaries.
	KorvidBinDir string
	// RepoRoot is where deploy/kustomize is read from.
	RepoRoot string
	// KwokStageFiles are kwok's Stage manifests (node and pod stages).
	KwokStageFiles []string
	// Nodes is the number of fake nodes (default 2).
	Nodes int
	// PodsPerNode is the pod capacity each fake node advertises (default
	// 5000, so the default cluster holds 10,000 pods).
	PodsPerNode int
	// ClientQPS and ClientBurst are the API client limits of
	// kube-controller-manager and kube-scheduler (defaults 500 and 1000;
	// their own defaults, 20 and 30, make 200 Deployments take five times
	// longer to become available).
	ClientQPS, ClientBurst int
	// ConcurrentSyncs is the number of workers of kube-controller-manager's
	// deployment, replicaset, endpoint, garbage collector and namespace
	// controllers (default 50).
	ConcurrentSyncs int
	// ControllerArgs are extra flags of the korvid controller.
	ControllerArgs []string
	// ControllerEnv are extra environment variables of the korvid
	// controller (NAME=value).
	ControllerEnv []string
	// Ports; defaults: etcd 12379 (peer 12380), apiserver 16443, webhook 9443.
	EtcdPort, EtcdPeerPort, APIServerPort, WebhookPort int
	// Logf reports progress.
	Logf func(format string, args ...any)
}

func (o *Options) defaults() {
	o.Nodes = cmp.Or(o.Nodes, 2)
	o.PodsPerNode = cmp.Or(o.PodsPerNode, 5000)
	o.ClientQPS = cmp.Or(o.ClientQPS, 500)
	o.ClientBurst = cmp.Or(o.ClientBurst, 2*o.ClientQPS)
	o.ConcurrentSyncs = cmp.Or(o.ConcurrentSyncs, 50)
	o.EtcdPort = cmp.Or(o.EtcdPort, 12379)
	o.EtcdPeerPort = cmp.Or(o.EtcdPeerPort, 12380)
	o.APIServerPort = cmp.Or(o.APIServerPort, 16443)
	o.WebhookPort = cmp.Or(o.WebhookPort, 9443)
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Cluster is a running local cluster.
type Cluster struct {
	opts Options
	// ControllerKubeconfig is the kubeconfig of korvid's controller: its own
	// identity (ControllerUser), which the instance webhooks exempt.
	ControllerKubeconfig string
	// Kubeconfig is the path of the admin kubeconfig.
	Kubeconfig string
	// Config is the admin REST config.
	Config *rest.Config
	// Client is an admin client.
	Client client.Client

	adminToken string
	procs      []*process
	pids       pidFile
	exit       chan string
}

// Start brings the whole cluster up. On error everything already started is
// stopped again.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	opts.defaults()
	c = &Cluster{opts: opts, pids: pidFile(filepath.Join(opts.Dir, "pids")), exit: make(chan string, 16)}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", opts.Dir, err)
	}
	if pid := c.pids.liveRunner(); pid != 0 {
		return nil, fmt.Errorf("another local cluster (pid %d) is running in %s; stop it first", pid, opts.Dir)
	}
	if err := c.pids.killStale(opts.Logf); err != nil {
		return nil, err
	}
	if self, err := os.Executable(); err == nil {
		if err := c.pids.add(runnerName, os.Getpid(), self); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
			c = nil
		}
	}()
	for _, sub := range []string{"etcd", "pki", "logs", "webhook-certs"} {
		if err := os.RemoveAll(filepath.Join(opts.Dir, sub)); err != nil {
			return c, fmt.Errorf("removing stale %s: %w", sub, err)
		}
	}
	for _, sub := range []string{"pki", "logs", "webhook-certs"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, sub), 0o700); err != nil {
			return c, fmt.Errorf("creating %s: %w", sub, err)
		}
	}
	if err := checkPortsFree(opts.EtcdPort, opts.EtcdPeerPort, opts.APIServerPort, opts.WebhookPort, webhookHealthPort, controllerMetricsPort, controllerHealthPort); err != nil {
		return c, err
	}
	pki, err := c.writePKI()
	if err != nil {
		return c, err
	}
	if err := c.startEtcd(ctx); err != nil {
		return c, err
	}
	if err := c.startAPIServer(ctx, pki); err != nil {
		return c, err
	}
	if err := c.startControllers(ctx); err != nil {
		return c, err
	}
	if err := c.installKorvid(ctx, pki); err != nil {
		return c, err
	}
	return c, nil
}

// PodCapacity is the number of pods the fake nodes hold together.
func (o Options) PodCapacity() int {
	o.defaults()
	return o.Nodes * o.PodsPerNode
}

// Exited receives the name of a child that ended while the cluster was
// supposed to be running.
func (c *Cluster) Exited() <-chan string { return c.exit }

// LogDir is where every child's output goes.
func (c *Cluster) LogDir() string { return filepath.Join(c.opts.Dir, "logs") }

// Stop stops every child, newest first, and waits for them.
func (c *Cluster) Stop() error {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		if !p.exited() {
			c.opts.Logf("stopping %s", p.name)
		}
		_ = p.stop(15 * time.Second)
	}
	c.procs = nil
	if err := os.Remove(string(c.pids)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing pid file: %w", err)
	}
	return nil
}

func (c *Cluster) start(name string, bin string, args ...string) (*process, error) {
	return c.startWithEnv(name, nil, bin, args...)
}

func (c *Cluster) startWithEnv(name string, env []string, bin string, args ...string) (*process, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s binary: %w", name, err)
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, fmt.Errorf("%s binary: %w", name, err)
	}
	p, err := startProcess(name, c.LogDir(), env, abs, args...)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	if err := c.pids.add(name, p.cmd.Process.Pid, abs); err != nil {
		return nil, err
	}
	go func() {
		<-p.done
		if !p.stopping {
			c.exit <- name
		}
	}()
	c.opts.Logf("started %s (pid %d, log %s)", name, p.cmd.Process.Pid, filepath.Join(c.LogDir(), name+".log"))
	return p, nil
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	o := c.opts
	client := "http://127.0.0.1:" + strconv.Itoa(o.EtcdPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(o.EtcdPeerPort)
	p, err := c.start("etcd", filepath.Join(o.ControlPlaneDir, "etcd"),
		"--name=local",
		"--data-dir="+filepath.Join(o.Dir, "etcd"),
		"--listen-client-urls="+client,
		"--advertise-client-urls="+client,
		"--listen-peer-urls="+peer,
		"--initial-advertise-peer-urls="+peer,
		"--initial-cluster=local="+peer,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	return waitHTTP(ctx, p, http.DefaultClient, client+"/health", 30*time.Second)
}

// ControllerUser is the user korvid's controller runs as on the local cluster.
const ControllerUser = "korvid-controller"

// pki holds the cluster's certificates and the admin's bearer token.
type pki struct {
	ca, webhookCA *CA
	admin         *KeyPair
	controller    *KeyPair
	// adminToken authenticates the admin where only bearer tokens are
	// accepted: the korvid binaries' metrics endpoints.
	adminToken string
	dir        string
}

func (c *Cluster) writePKI() (*pki, error) {
	dir := filepath.Join(c.opts.Dir, "pki")
	ca, err := NewCA("korvid-local-ca")
	if err != nil {
		return nil, err
	}
	serving, err := ca.Issue(CertRequest{
		CommonName: "kube-apiserver",
		DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPs:        []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		Server:     true,
	})
	if err != nil {
		return nil, err
	}
	admin, err := ca.Issue(CertRequest{CommonName: "admin", Organizations: []string{"system:masters"}, Client: true})
	if err != nil {
		return nil, err
	}
	tokenBytes := make([]byte, 32)
	if _, err := rand.Read(tokenBytes); err != nil {
		return nil, fmt.Errorf("generating the admin token: %w", err)
	}
	adminToken := hex.EncodeToString(tokenBytes)
	controller, err := ca.Issue(CertRequest{CommonName: ControllerUser, Organizations: []string{"system:masters"}, Client: true})
	if err != nil {
		return nil, err
	}
	saPriv, saPub, err := NewServiceAccountKey()
	if err != nil {
		return nil, err
	}
	webhookCA, err := NewCA("korvid-local-webhook-ca")
	if err != nil {
		return nil, err
	}
	webhook, err := webhookCA.Issue(CertRequest{
		CommonName: "korvid-webhook",
		DNSNames:   []string{"localhost"},
		IPs:        []net.IP{net.ParseIP("127.0.0.1")},
		Server:     true,
	})
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		filepath.Join(dir, "ca.crt"):                          ca.CertPEM,
		filepath.Join(dir, "ca.key"):                          ca.KeyPEM,
		filepath.Join(dir, "apiserver.crt"):                   serving.CertPEM,
		filepath.Join(dir, "apiserver.key"):                   serving.KeyPEM,
		filepath.Join(dir, "admin.crt"):                       admin.CertPEM,
		filepath.Join(dir, "admin.key"):                       admin.KeyPEM,
		filepath.Join(dir, "tokens.csv"):                      []byte(adminToken + ",admin,admin,system:masters\n"),
		filepath.Join(c.opts.Dir, AdminTokenFile):             []byte(adminToken),
		filepath.Join(dir, "sa.key"):                          saPriv,
		filepath.Join(dir, "sa.pub"):                          saPub,
		filepath.Join(dir, "webhook-ca.crt"):                  webhookCA.CertPEM,
		filepath.Join(c.opts.Dir, "webhook-certs", "tls.crt"): webhook.CertPEM,
		filepath.Join(c.opts.Dir, "webhook-certs", "tls.key"): webhook.KeyPEM,
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return &pki{ca: ca, webhookCA: webhookCA, admin: admin, controller: controller, adminToken: adminToken, dir: dir}, nil
}

func (c *Cluster) startAPIServer(ctx context.Context, k *pki) error {
	o := c.opts
	p, err := c.start("kube-apiserver", filepath.Join(o.ControlPlaneDir, "kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:"+strconv.Itoa(o.EtcdPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// Loopback cannot be the kubernetes Service endpoint; nothing in-cluster needs it.
		"--endpoint-reconciler-type=none",
		"--secure-port="+strconv.Itoa(o.APIServerPort),
		"--tls-cert-file="+filepath.Join(k.dir, "apiserver.crt"),
		"--tls-private-key-file="+filepath.Join(k.dir, "apiserver.key"),
		"--client-ca-file="+filepath.Join(k.dir, "ca.crt"),
		// The admin's token, for endpoints that take only bearer tokens (metrics).
		"--token-auth-file="+filepath.Join(k.dir, "tokens.csv"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(k.dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(k.dir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/12",
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		"--disable-admission-plugins=ServiceAccount",
		"--enable-priority-and-fairness=false",
	)
	if err != nil {
		return err
	}
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["korvid-local"] = &clientcmdapi.Cluster{
		Server:                   "https://127.0.0.1:" + strconv.Itoa(o.APIServerPort),
		CertificateAuthorityData: k.ca.CertPEM,
	}
	kubeconfig.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: k.admin.CertPEM, ClientKeyData: k.admin.KeyPEM, Token: k.adminToken}
	kubeconfig.Contexts["korvid-local"] = &clientcmdapi.Context{Cluster: "korvid-local", AuthInfo: "admin", Namespace: "default"}
	kubeconfig.CurrentContext = "korvid-local"
	c.Kubeconfig = filepath.Join(o.Dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kubeconfig, c.Kubeconfig); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	ctrlConfig := kubeconfig.DeepCopy()
	ctrlConfig.AuthInfos = map[string]*clientcmdapi.AuthInfo{"admin": {ClientCertificateData: k.controller.CertPEM, ClientKeyData: k.controller.KeyPEM}}
	c.ControllerKubeconfig = filepath.Join(o.Dir, "controller.kubeconfig")
	if err := clientcmd.WriteToFile(*ctrlConfig, c.ControllerKubeconfig); err != nil {
		return fmt.Errorf("writing the controller's kubeconfig: %w", err)
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*kubeconfig, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	c.Config = cfg
	c.adminToken = k.adminToken
	tlsCert, err := tls.X509KeyPair(k.admin.CertPEM, k.admin.KeyPEM)
	if err != nil {
		return fmt.Errorf("loading admin certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(k.ca.Cert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{tlsCert}, MinVersion: tls.VersionTLS12}}}
	if err := waitHTTP(ctx, p, hc, cfg.Host+"/readyz", 90*time.Second); err != nil {
		return err
	}
	c.Client, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("building client: %w", err)
	}
	return nil
}

// waitHTTP polls url until it answers 200, the process exits or the timeout passes.
func waitHTTP(ctx context.Context, p *process, hc *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if hc == nil {
		hc = http.DefaultClient
	}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", p.name, err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("%s answered %s", url, resp.Status)
		} else {
			last = err
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited while starting (%v); see %s", p.name, p.err, p.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (last: %v); see %s", p.name, timeout, last, p.log.Name())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func checkPortsFree(ports ...int) error {
	for _, port := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return fmt.Errorf("port %d is in use (another local cluster or program?): %w", port, err)
		}
		_ = l.Close()
	}
	return nil
}
