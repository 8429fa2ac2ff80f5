package localcluster

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestIssuedCertificatesVerify(t *testing.T) {
	ca, err := NewCA("test-ca")
	require.NoError(t, err)
	kp, err := ca.Issue(CertRequest{CommonName: "svc", DNSNames: []string{"korvid-webhook.korvid-system.svc"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})
	require.NoError(t, err)
	_, err = tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	require.NoError(t, err, "certificate and key belong together")

	block, _ := pem.Decode(kp.CertPEM)
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM)
	for _, tc := range []struct {
		name    string
		opts    x509.VerifyOptions
		wantErr bool
	}{
		{name: "service DNS name", opts: x509.VerifyOptions{DNSName: "korvid-webhook.korvid-system.svc", Roots: roots}},
		{name: "loopback IP", opts: x509.VerifyOptions{DNSName: "127.0.0.1", Roots: roots}},
		{name: "other name", opts: x509.VerifyOptions{DNSName: "example.com", Roots: roots}, wantErr: true},
		{name: "as a client certificate", opts: x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, wantErr: true},
		{name: "other CA", opts: x509.VerifyOptions{DNSName: "korvid-webhook.korvid-system.svc", Roots: x509.NewCertPool()}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cert.Verify(tc.opts)
			if tc.wantErr {
				assert.Error(t, err)
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

// TestKillStaleStopsOnlyRecordedBinaries checks the clean-up after a runner
// that died: a recorded child still running its binary is stopped, a pid
// that now runs another program is left alone.
func TestKillStaleStopsOnlyRecordedBinaries(t *testing.T) {
	sleepBin, err := exec.LookPath("sleep")
	require.NoError(t, err)
	sleepBin, err = filepath.EvalSymlinks(sleepBin)
	require.NoError(t, err)

	stale := exec.Command(sleepBin, "60")
	stale.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, stale.Start())
	other := exec.Command(sleepBin, "60")
	require.NoError(t, other.Start())
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	staleDone := make(chan struct{})
	go func() { _ = stale.Wait(); close(staleDone) }()

	f := pidFile(filepath.Join(t.TempDir(), "pids"))
	require.NoError(t, f.add("etcd", stale.Process.Pid, sleepBin))
	require.NoError(t, f.add("kube-apiserver", other.Process.Pid, "/nonexistent/kube-apiserver"))
	require.NoError(t, f.killStale(func(string, ...any) {}))

	select {
	case <-staleDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the recorded process was not stopped")
	}
	assert.NoError(t, other.Process.Signal(syscall.Signal(0)), "a pid running another binary must survive")
	_, err = os.Stat(string(f))
	assert.True(t, os.IsNotExist(err), "the pid file is removed")
}

func TestPointWebhooksAtKeepsPaths(t *testing.T) {
	objs, err := Render(filepath.Join("..", "..", "deploy", "kustomize", "webhook"))
	require.NoError(t, err)
	n := 0
	for _, o := range objs {
		if !IsWebhookConfiguration(o) {
			continue
		}
		require.NoError(t, PointWebhooksAt(o, "https://127.0.0.1:9443", []byte("CA")))
		hooks, _, err := unstructured.NestedSlice(o.Object, "webhooks")
		require.NoError(t, err)
		for _, h := range hooks {
			cc := h.(map[string]any)["clientConfig"].(map[string]any)
			assert.Regexp(t, `^https://127\.0\.0\.1:9443/(validate|mutate)-`, cc["url"])
			assert.NotContains(t, cc, "service")
			assert.Equal(t, "Q0E=", cc["caBundle"])
			n++
		}
	}
	assert.Equal(t, 4, n, "every webhook of the four configurations")
}

// TestDefaultsFitForLoad pins what the local cluster is sized for: fake
// nodes holding at least 5,000 pods, and kube-controller-manager and
// kube-scheduler allowed 500 requests per second with more workers, so a
// thousand Deployments become available at the API server's pace.
func TestDefaultsFitForLoad(t *testing.T) {
	var o Options
	o.defaults()
	assert.GreaterOrEqual(t, o.PodCapacity(), 5000)
	pods := nodeResources(o.PodsPerNode)[corev1.ResourcePods]
	assert.Equal(t, int64(o.PodsPerNode), pods.Value(), "each node advertises its share")

	kcm := controllerManagerArgs(o, "kc")
	for _, flag := range []string{"--kube-api-qps=500", "--kube-api-burst=1000", "--concurrent-deployment-syncs=50", "--concurrent-replicaset-syncs=50"} {
		assert.Contains(t, kcm, flag)
	}
	sched := schedulerArgs(o, "kc")
	assert.Contains(t, sched, "--kube-api-qps=500")
	assert.Contains(t, sched, "--kube-api-burst=1000")
}

func TestCapacityAndLimitsAreOptions(t *testing.T) {
	o := Options{Nodes: 3, PodsPerNode: 200, ClientQPS: 50, ConcurrentSyncs: 5}
	assert.Equal(t, 600, o.PodCapacity())
	o.defaults()
	assert.Contains(t, controllerManagerArgs(o, "kc"), "--kube-api-burst=100", "burst follows a given QPS")
	assert.Contains(t, controllerManagerArgs(o, "kc"), "--concurrent-deployment-syncs=5")
	assert.Contains(t, schedulerArgs(o, "kc"), "--kube-api-qps=50")
}

func TestExemptUserRewritesOnlyTheControllerCondition(t *testing.T) {
	o := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1",
		"kind":       "ValidatingWebhookConfiguration",
		"webhooks": []any{
			map[string]any{"name": "a", "matchConditions": []any{
				map[string]any{"name": ControllerMatchCondition, "expression": "request.userInfo.username != 'system:serviceaccount:korvid-system:korvid-controller'"},
				map[string]any{"name": "other", "expression": "true"},
			}},
			map[string]any{"name": "b"},
		},
	}}
	require.NoError(t, ExemptUser(o, "korvid-controller"))
	hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
	conds, _, _ := unstructured.NestedSlice(hooks[0].(map[string]any), "matchConditions")
	assert.Equal(t, `request.userInfo.username != "korvid-controller"`, conds[0].(map[string]any)["expression"])
	assert.Equal(t, "true", conds[1].(map[string]any)["expression"], "other conditions are left alone")
	_, has := hooks[1].(map[string]any)["matchConditions"]
	assert.False(t, has, "a webhook without the condition does not get one")
}
