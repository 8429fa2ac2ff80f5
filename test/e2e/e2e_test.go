package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/internal/localcluster"
	"github.com/korvid/korvid/test/envtest"
)

// TestInstallEndToEnd installs deploy/kustomize/default on a real API server
// and checks that it works as installed. What stands in for the parts of a
// cluster this test does not run:
//
//   - cert-manager's controller: the test issues the CA and the serving
//     certificate itself (crypto/x509) into the Secrets the Certificates
//     name, for the DNS names and usages they request, annotated as
//     cert-manager annotates them. cert-manager's real CA injector
//     (pkg/controller/cainjector) runs in-process and fills the webhook
//     configurations' caBundle from the cert-manager.io/inject-ca-from
//     annotation.
//   - the kubelet: the webhook and controller binaries run as local
//     processes with the Deployments' container args (ports and the
//     certificate directory moved to free local ones; the serving Secret is
//     written to that directory, as the Secret volume would be).
//   - kube-proxy and the endpoints controller: the webhook Service keeps its
//     ClusterIP, and an EndpointSlice for it names this machine's first
//     non-loopback IPv4 address (the API server refuses loopback endpoints)
//     and the webhook process's port. The API server runs with
//     --enable-aggregator-routing, so it calls webhooks at the Service's
//     endpoints, over TLS, checking the certificate against the injected
//     caBundle for the name korvid-webhook.korvid-system.svc.
//   - kube-controller-manager's ClusterRole aggregation: the test copies
//     the rules of the labelled ClusterRoles into the aggregated ones, and
//     both binaries run as their ServiceAccounts (impersonated), so the
//     install's RBAC is what they get: reconciling and deleting an RGD and
//     its instance proves the controller's trimmed ClusterRole is enough.
//
// The endpoints are checked as a client on the network would see them: the
// webhook server does not negotiate HTTP/2 nor TLS below 1.2, and each
// binary's metrics answer 401 without a token, 403 to a token not
// bound to korvid-metrics-reader and 200 to one that is.
func TestInstallEndToEnd(t *testing.T) {
	if testing.Short() {
		skipOrFail(t, "end-to-end test skipped in -short mode")
	}
	hostIP := nonLoopbackIPv4(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	objs := render(t)
	bins := buildBinaries(t)
	env, err := envtest.Start(envtest.Options{
		CRDDirectoryPaths: []string{certManagerCRDs(t)},
		APIServerArgs:     map[string]string{"enable-aggregator-routing": "true"},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	c := env.Client

	// Install everything kubectl apply -k would. Deployments stay at zero
	// ready pods: there is no scheduler or kubelet.
	require.NoError(t, localcluster.Apply(ctx, c, objs...))
	aggregateClusterRoles(ctx, t, c)

	certs := issueCertificates(ctx, t, c, objs)
	startCAInjector(ctx, t, env)
	waitCABundles(ctx, t, c, certs.caPEM)

	webhookPort := freePort(t)
	createEndpointSlice(ctx, t, c, hostIP, webhookPort)

	dir := t.TempDir()
	certDir := filepath.Join(dir, "serving-certs")
	require.NoError(t, os.MkdirAll(certDir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(certDir, "tls.crt"), certs.serving.Data["tls.crt"], 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(certDir, "tls.key"), certs.serving.Data["tls.key"], 0o600))

	webhookHealth, controllerHealth := freePort(t), freePort(t)
	// Metrics as installed (HTTPS, authenticated), on local ports.
	metricsPorts := map[string]int{"webhook": freePort(t), "controller": freePort(t)}
	webhookArgs := containerArgs(t, objs, "korvid-webhook", map[string]string{
		"port":                      strconv.Itoa(webhookPort),
		"cert-dir":                  certDir,
		"metrics-bind-address":      "127.0.0.1:" + strconv.Itoa(metricsPorts["webhook"]),
		"health-probe-bind-address": "127.0.0.1:" + strconv.Itoa(webhookHealth),
	})
	controllerArgs := containerArgs(t, objs, "korvid-controller", map[string]string{
		"metrics-bind-address":      "127.0.0.1:" + strconv.Itoa(metricsPorts["controller"]),
		"health-probe-bind-address": "127.0.0.1:" + strconv.Itoa(controllerHealth),
	})
	controllerKubeconfig := kubeconfigFor(t, env, dir, "korvid-controller")
	startBinary(t, "webhook", filepath.Join(bins, "webhook"), kubeconfigFor(t, env, dir, "korvid-webhook"), webhookArgs)
	startBinary(t, "controller", filepath.Join(bins, "controller"), controllerKubeconfig, controllerArgs)
	waitHealthy(ctx, t, webhookHealth)
	waitHealthy(ctx, t, controllerHealth)

	t.Run("the webhook and metrics servers speak TLS 1.2+ and HTTP/1.1 only", func(t *testing.T) {
		testNoHTTP2(t, certs.caPEM, webhookPort, metricsPorts)
	})

	t.Run("metrics need a token bound to korvid-metrics-reader", func(t *testing.T) {
		testMetricsNeedAReaderToken(ctx, t, env, metricsPorts)
	})

	t.Run("the API server calls the webhook over TLS and a bad RGD is denied with its field paths", func(t *testing.T) {
		broken := readObject(t, "broken", "rgd.yaml")
		var err error
		// The first calls can race the webhook's first certificate load.
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			err = c.Create(ctx, broken.DeepCopy())
			return err != nil && strings.Contains(err.Error(), "denied the request"), nil
		}), "last error: %v", err)
		msg := err.Error()
		assert.Contains(t, msg, `admission webhook "vresourcegraphdefinition.kro.run" denied the request`)
		assert.Contains(t, msg, "spec.resources[0].template.spec.replica")
		assert.Contains(t, msg, "spec.resources[1].readyWhen[0]")
	})

	t.Run("the controller reconciles the collection example to ACTIVE", func(t *testing.T) {
		rgd := readObject(t, "collection", "rgd.yaml")
		require.NoError(t, c.Create(ctx, rgd))
		waitField(ctx, t, c, rgd, "Active", "status", "state")

		// The webhook starts matching the new kind.
		var rules []admissionregistrationv1.RuleWithOperations
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			var cfg admissionregistrationv1.ValidatingWebhookConfiguration
			if err := c.Get(ctx, client.ObjectKey{Name: "korvid-instance-validation"}, &cfg); err != nil {
				return false, err
			}
			rules = cfg.Webhooks[0].Rules
			return slices.ContainsFunc(rules, func(r admissionregistrationv1.RuleWithOperations) bool {
				return slices.Contains(r.APIGroups, "kro.run") && slices.Contains(r.Resources, "environmentsets")
			}), nil
		}), "the instance webhook never matched the EnvironmentSet kind; its rules: %+v", rules)

		instance := readObject(t, "collection", "instance.yaml")
		require.NoError(t, c.Create(ctx, instance))
		waitField(ctx, t, c, instance, "ACTIVE", "status", "state")
		for _, env := range []string{"dev", "staging", "prod"} {
			var cm corev1.ConfigMap
			require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "shop-" + env}, &cm))
			assert.Equal(t, env, cm.Data["environment"])
			assert.Equal(t, "true", cm.Labels["kro.run/owned"])
		}
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(instance), instance))
		count, _, _ := unstructured.NestedInt64(instance.Object, "status", "count")
		assert.Equal(t, int64(3), count, "status.count projected from the collection")
	})

	t.Run("the controller's identity may change an RGD's finalizers and nothing else", func(t *testing.T) {
		testControllerCannotRewriteRGDs(ctx, t, controllerKubeconfig, readObject(t, "collection", "rgd.yaml").GetName())
	})

	// The trimmed RBAC covers deletion too: the instance's children are
	// deleted and its finalizer removed, then the RGD's revisions are
	// deleted and its finalizer removed.
	t.Run("the instance and then the RGD are deleted", func(t *testing.T) {
		instance := readObject(t, "collection", "instance.yaml")
		require.NoError(t, c.Delete(ctx, instance))
		waitGone(ctx, t, c, instance)
		for _, env := range []string{"dev", "staging", "prod"} {
			err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "shop-" + env}, &corev1.ConfigMap{})
			assert.True(t, apierrors.IsNotFound(err), "ConfigMap shop-%s deleted with the instance: %v", env, err)
		}
		rgd := readObject(t, "collection", "rgd.yaml")
		require.NoError(t, c.Delete(ctx, rgd))
		waitGone(ctx, t, c, rgd)
		revs := &unstructured.UnstructuredList{}
		revs.SetAPIVersion("internal.kro.run/v1alpha1")
		revs.SetKind("GraphRevisionList")
		require.NoError(t, c.List(ctx, revs))
		assert.Empty(t, revs.Items, "the RGD's graph revisions are deleted")
	})
}

// waitGone waits until the object no longer exists.
func waitGone(ctx context.Context, t *testing.T, c client.Client, o *unstructured.Unstructured) {
	t.Helper()
	cur := &unstructured.Unstructured{}
	cur.SetGroupVersionKind(o.GroupVersionKind())
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(o), cur)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, nil
	})
	require.NoError(t, err, "%s %s still exists; finalizers %v, conditions %v", o.GetKind(), o.GetName(), cur.GetFinalizers(), cur.Object["status"])
}

// nonLoopbackIPv4 returns an address of this machine the API server accepts
// as a Service endpoint.
func nonLoopbackIPv4(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			return ipn.IP.String()
		}
	}
	skipOrFail(t, "no non-loopback IPv4 address: the API server cannot route a Service to a local process")
	return ""
}

// skipOrFail skips the test when its prerequisites are missing, except in
// CI (CI=true), where a missing prerequisite fails it: CI must run it.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: the end-to-end test must run)", why)
	}
	t.Skip(why)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// buildBinaries builds the webhook and the controller the way `make build`
// does.
func buildBinaries(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command("go", "build", "-o", out+"/", "./cmd/webhook", "./cmd/controller")
	cmd.Dir = envtest.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", b)
	return out
}

// certManagerCRDs locates the CRDs shipped in the cert-manager module go.mod
// pins.
func certManagerCRDs(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-json", "github.com/cert-manager/cert-manager")
	cmd.Dir = envtest.RepoRoot()
	b, err := cmd.Output()
	require.NoError(t, err, "go list cert-manager")
	var mod struct{ Dir string }
	require.NoError(t, json.Unmarshal(b, &mod))
	require.NotEmpty(t, mod.Dir, "cert-manager module not downloaded (go mod download)")
	return filepath.Join(mod.Dir, "deploy", "crds")
}

// aggregateClusterRoles does what kube-controller-manager's ClusterRole
// aggregation controller does: an aggregated ClusterRole gets the rules of
// every ClusterRole its selectors match.
func aggregateClusterRoles(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	var roles rbacv1.ClusterRoleList
	require.NoError(t, c.List(ctx, &roles))
	for i := range roles.Items {
		agg := &roles.Items[i]
		if agg.AggregationRule == nil || !strings.HasPrefix(agg.Name, "korvid-") {
			continue
		}
		var rules []rbacv1.PolicyRule
		for _, sel := range agg.AggregationRule.ClusterRoleSelectors {
			s, err := metav1.LabelSelectorAsSelector(&sel)
			require.NoError(t, err)
			var matched rbacv1.ClusterRoleList
			require.NoError(t, c.List(ctx, &matched, client.MatchingLabelsSelector{Selector: s}))
			for _, m := range matched.Items {
				rules = append(rules, m.Rules...)
			}
		}
		require.NotEmpty(t, rules, "nothing aggregates into %s", agg.Name)
		agg.Rules = rules
		require.NoError(t, c.Update(ctx, agg))
	}
}

type issued struct {
	caPEM   []byte
	serving *corev1.Secret
}

// issueCertificates stands in for cert-manager's controller: it walks the
// install's Certificates, CA first, and stores each in the Secret it names,
// signed by the Issuer it references (selfSigned or ca).
func issueCertificates(ctx context.Context, t *testing.T, c client.Client, objs []*unstructured.Unstructured) issued {
	t.Helper()
	issuers := map[string]*cmapi.Issuer{}
	var certs []*cmapi.Certificate
	for _, o := range objs {
		switch o.GetKind() {
		case "Issuer":
			issuers[o.GetName()] = convert[cmapi.Issuer](t, o)
		case "Certificate":
			certs = append(certs, convert[cmapi.Certificate](t, o))
		}
	}
	slices.SortStableFunc(certs, func(a, b *cmapi.Certificate) int {
		switch {
		case a.Spec.IsCA && !b.Spec.IsCA:
			return -1
		case b.Spec.IsCA && !a.Spec.IsCA:
			return 1
		}
		return 0
	})
	cas := map[string]*localcluster.CA{} // by Secret name
	var out issued
	for _, cert := range certs {
		issuer := issuers[cert.Spec.IssuerRef.Name]
		require.NotNil(t, issuer, "Certificate %s references unknown Issuer %s", cert.Name, cert.Spec.IssuerRef.Name)
		var certPEM, keyPEM, caPEM []byte
		switch {
		case issuer.Spec.SelfSigned != nil:
			require.True(t, cert.Spec.IsCA, "only the CA is self-signed")
			ca, err := localcluster.NewCA(cert.Spec.CommonName)
			require.NoError(t, err)
			cas[cert.Spec.SecretName] = ca
			certPEM, keyPEM, caPEM = ca.CertPEM, ca.KeyPEM, ca.CertPEM
		case issuer.Spec.CA != nil:
			ca := cas[issuer.Spec.CA.SecretName]
			require.NotNil(t, ca, "Issuer %s uses Secret %s, which no CA Certificate fills", issuer.Name, issuer.Spec.CA.SecretName)
			require.Contains(t, cert.Spec.Usages, cmapi.UsageServerAuth, "Certificate %s", cert.Name)
			kp, err := ca.Issue(localcluster.CertRequest{CommonName: cert.Spec.CommonName, DNSNames: cert.Spec.DNSNames, Server: true})
			require.NoError(t, err)
			certPEM, keyPEM, caPEM = kp.CertPEM, kp.KeyPEM, ca.CertPEM
			out.caPEM = ca.CertPEM
		default:
			t.Fatalf("Issuer %s: only selfSigned and ca issuers are issued by this test", issuer.Name)
		}
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name:      cert.Spec.SecretName,
				Namespace: cert.Namespace,
				Annotations: map[string]string{
					cmapi.CertificateNameKey:      cert.Name,
					cmapi.IssuerNameAnnotationKey: issuer.Name,
					cmapi.IssuerKindAnnotationKey: "Issuer",
					cmapi.AltNamesAnnotationKey:   strings.Join(cert.Spec.DNSNames, ","),
				},
			},
			Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM, "ca.crt": caPEM},
		}
		require.NoError(t, c.Create(ctx, secret))
		if !cert.Spec.IsCA {
			out.serving = secret
		}
	}
	require.NotNil(t, out.serving, "the install requests no serving certificate")
	return out
}

// startCAInjector runs cert-manager's CA injector against the API server.
func startCAInjector(ctx context.Context, t *testing.T, env *envtest.Env) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "cainjector.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile)))
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("--- cainjector log ---\n%s", tail(b))
		}
	})
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	require.NoError(t, cmapi.AddToScheme(s))
	// The injector names its field manager after the user agent, as
	// cert-manager's own binary sets it.
	cfg := rest.CopyConfig(env.Config)
	cfg.UserAgent = "cert-manager-cainjector/e2e"
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 s,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	require.NoError(t, err)
	require.NoError(t, cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			cainjector.ValidatingWebhookConfigurationName: true,
			cainjector.MutatingWebhookConfigurationName:   true,
		},
	}))
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		select {
		case err := <-done:
			if err != nil {
				t.Logf("CA injector stopped: %v", err)
			}
		case <-time.After(10 * time.Second):
		}
	})
}

// waitCABundles waits until every webhook of every configuration trusts caPEM.
func waitCABundles(ctx context.Context, t *testing.T, c client.Client, caPEM []byte) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		var v admissionregistrationv1.ValidatingWebhookConfigurationList
		var m admissionregistrationv1.MutatingWebhookConfigurationList
		if err := c.List(ctx, &v); err != nil {
			return false, err
		}
		if err := c.List(ctx, &m); err != nil {
			return false, err
		}
		n := 0
		for _, cfg := range v.Items {
			for _, w := range cfg.Webhooks {
				if !bytes.Equal(w.ClientConfig.CABundle, caPEM) {
					return false, nil
				}
				n++
			}
		}
		for _, cfg := range m.Items {
			for _, w := range cfg.Webhooks {
				if !bytes.Equal(w.ClientConfig.CABundle, caPEM) {
					return false, nil
				}
				n++
			}
		}
		return n == 4, nil
	})
	require.NoError(t, err, "the CA injector did not fill every caBundle")
}

func createEndpointSlice(ctx context.Context, t *testing.T, c client.Client, ip string, port int) {
	t.Helper()
	var svc corev1.Service
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: webhookService}, &svc))
	require.Len(t, svc.Spec.Ports, 1)
	require.NoError(t, c.Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      webhookService + "-e2e",
			Namespace: namespace,
			Labels:    map[string]string{discoveryv1.LabelServiceName: webhookService},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports: []discoveryv1.EndpointPort{{
			Name:     ptr.To(svc.Spec.Ports[0].Name),
			Port:     ptr.To(int32(port)),
			Protocol: ptr.To(corev1.ProtocolTCP),
		}},
	}))
}

// containerArgs returns a Deployment's container args with the given flags
// replaced and $(POD_NAMESPACE) expanded as the kubelet would.
func containerArgs(t *testing.T, objs []*unstructured.Unstructured, deployment string, override map[string]string) []string {
	t.Helper()
	o := find(objs, "Deployment", deployment)
	require.NotNil(t, o, "Deployment %s", deployment)
	d := convert[appsv1.Deployment](t, o)
	var args []string
	seen := map[string]bool{}
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if v, ok := override[name]; ok {
			a = "--" + name + "=" + v
			seen[name] = true
		}
		args = append(args, strings.ReplaceAll(a, "$(POD_NAMESPACE)", namespace))
	}
	for name, v := range override {
		if !seen[name] {
			args = append(args, "--"+name+"="+v)
		}
	}
	return args
}

// kubeconfigFor writes a kubeconfig that acts as the named ServiceAccount of
// the install (an admin impersonating it, as the Pod's token would).
func kubeconfigFor(t *testing.T, env *envtest.Env, dir, serviceAccount string) string {
	t.Helper()
	user, err := env.Environment.ControlPlane.AddUser(crenvtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
	require.NoError(t, err)
	raw, err := user.KubeConfig()
	require.NoError(t, err)
	cfg, err := clientcmd.Load(raw)
	require.NoError(t, err)
	for _, a := range cfg.AuthInfos {
		a.Impersonate = "system:serviceaccount:" + namespace + ":" + serviceAccount
		a.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
	}
	path := filepath.Join(dir, serviceAccount+".kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// startBinary runs a binary until the test ends, then stops it and, if the
// test failed, prints the end of its log.
func startBinary(t *testing.T, name, bin, kubeconfig string, args []string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start(), "starting %s", name)
	t.Logf("started %s %s", name, strings.Join(args, " "))
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		_ = logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("--- end of %s log ---\n%s", name, tail(b))
		}
	})
}

func waitHealthy(ctx context.Context, t *testing.T, port int) {
	t.Helper()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/readyz"
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil //nolint:nilerr // not listening yet
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}), "%s never became ready", url)
}

func readObject(t *testing.T, example, file string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(envtest.RepoRoot(), "examples", example, file))
	require.NoError(t, err)
	o := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal(b, &o.Object))
	return o
}

// waitField waits until the object's field equals want, reporting the last
// value and the object's conditions if it never does.
func waitField(ctx context.Context, t *testing.T, c client.Client, o *unstructured.Unstructured, want string, path ...string) {
	t.Helper()
	cur := &unstructured.Unstructured{}
	cur.SetGroupVersionKind(o.GroupVersionKind())
	var got string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(o), cur); err != nil {
			return false, nil //nolint:nilerr // the kind may not be served yet
		}
		got, _, _ = unstructured.NestedString(cur.Object, path...)
		return got == want, nil
	})
	if err != nil {
		conds, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
		b, _ := json.MarshalIndent(conds, "", "  ")
		require.NoError(t, fmt.Errorf("%s %s: %s is %q, want %q; conditions: %s: %w", o.GetKind(), o.GetName(), strings.Join(path, "."), got, want, b, err))
	}
}

// tail returns the last 8000 bytes of a log.
func tail(b []byte) []byte {
	if len(b) > 8000 {
		return b[len(b)-8000:]
	}
	return b
}
