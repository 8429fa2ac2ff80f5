package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/test/envtest"
)

// serviceAccountToken creates a ServiceAccount in the default namespace,
// optionally bound to a ClusterRole, and returns a token for it.
func serviceAccountToken(ctx context.Context, t *testing.T, env *envtest.Env, name, clusterRole string) string {
	t.Helper()
	c := env.Client
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	require.NoError(t, c.Create(ctx, sa))
	if clusterRole != "" {
		require.NoError(t, c.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: "default"}},
		}))
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	require.NoError(t, err)
	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(600))},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return tr.Status.Token
}

// scrape GETs /metrics with an optional bearer token. The metrics servers
// use a self-signed certificate; what is checked here is who may read.
func scrape(ctx context.Context, port int, token string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://127.0.0.1:"+strconv.Itoa(port)+"/metrics", nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // self-signed metrics certificate
	}}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// testMetricsNeedAReaderToken checks both binaries' metrics endpoints as
// installed: no token is 401, an unknown one is refused, a token without
// korvid-metrics-reader is 403, a token bound to it reads the metrics.
func testMetricsNeedAReaderToken(ctx context.Context, t *testing.T, env *envtest.Env, ports map[string]int) {
	reader := serviceAccountToken(ctx, t, env, "e2e-metrics-scraper", "korvid-metrics-reader")
	stranger := serviceAccountToken(ctx, t, env, "e2e-stranger", "")
	for name, port := range ports {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				who, token string
				want       int
			}{
				{"no token", "", http.StatusUnauthorized},
				// The API server rejects the token; controller-runtime's
				// filter reports that rejection as a failed authentication.
				{"an unknown token", "not-a-token", http.StatusInternalServerError},
				{"a token without korvid-metrics-reader", stranger, http.StatusForbidden},
			} {
				code, body, err := scrape(ctx, port, tc.token)
				require.NoError(t, err, tc.who)
				assert.Equal(t, tc.want, code, "%s: %s", tc.who, body)
				assert.NotContains(t, body, "controller_runtime_", "%s reads no metrics", tc.who)
			}
			// The binding may take a moment to reach the API server's authorizer.
			assert.EventuallyWithT(t, func(c *assert.CollectT) {
				code, body, err := scrape(ctx, port, reader)
				if !assert.NoError(c, err) {
					return
				}
				assert.Equal(c, http.StatusOK, code, body)
				assert.Contains(c, body, "controller_runtime_", "controller-runtime's metrics are served")
			}, 30*time.Second, 500*time.Millisecond, "a token bound to korvid-metrics-reader reads %s's metrics", name)
		})
	}
}

// testNoHTTP2 connects to the webhook server as the API server would (the
// serving certificate checked against the injected CA, for the Service's
// name) offering h2 first: the server must answer with HTTP/1.1, and refuse
// TLS older than 1.2. The metrics servers must not negotiate h2 either.
func testNoHTTP2(t *testing.T, caPEM []byte, webhookPort int, metricsPorts map[string]int) {
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(caPEM))
	dial := func(port int, cfg *tls.Config) (tls.ConnectionState, error) {
		d := &tls.Dialer{Config: cfg}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := d.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer conn.Close()
		return conn.(*tls.Conn).ConnectionState(), nil
	}
	serverName := webhookService + "." + namespace + ".svc"

	st, err := dial(webhookPort, &tls.Config{RootCAs: roots, ServerName: serverName, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12})
	require.NoError(t, err, "TLS handshake with the webhook server")
	assert.Equal(t, "http/1.1", st.NegotiatedProtocol, "the webhook server must not negotiate HTTP/2")
	assert.GreaterOrEqual(t, st.Version, uint16(tls.VersionTLS12))

	_, err = dial(webhookPort, &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}) //nolint:gosec // checks that old TLS is refused
	assert.Error(t, err, "the webhook server must refuse TLS 1.1")

	for name, port := range metricsPorts {
		st, err := dial(port, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}) //nolint:gosec // self-signed metrics certificate
		require.NoError(t, err, "TLS handshake with %s's metrics server", name)
		assert.Equal(t, "http/1.1", st.NegotiatedProtocol, "%s's metrics server must not negotiate HTTP/2", name)
	}
}

// testControllerCannotRewriteRGDs acts as the controller's ServiceAccount:
// RBAC lets it patch an RGD (for its finalizer), the admission policy keeps
// those patches to the finalizers.
func testControllerCannotRewriteRGDs(ctx context.Context, t *testing.T, kubeconfig, rgdName string) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	c, err := client.New(cfg, client.Options{})
	require.NoError(t, err)
	rgd := &unstructured.Unstructured{}
	rgd.SetAPIVersion("kro.run/v1alpha1")
	rgd.SetKind("ResourceGraphDefinition")
	rgd.SetName(rgdName)

	for _, tc := range []struct{ what, patch string }{
		{"spec", `{"spec":{"schema":{"categories":["e2e"]}}}`},
		{"labels", `{"metadata":{"labels":{"e2e.korvid.dev/rewritten":"true"}}}`},
		{"annotations", `{"metadata":{"annotations":{"e2e.korvid.dev/rewritten":"true"}}}`},
	} {
		err := c.Patch(ctx, rgd.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(tc.patch)))
		require.Error(t, err, "the controller's identity changed the RGD's %s", tc.what)
		assert.Contains(t, err.Error(), "may change only the finalizers of a ResourceGraphDefinition, not its "+tc.what)
	}

	// A finalizer alone passes, added and removed.
	const finalizer = "e2e.korvid.dev/finalizer"
	cur := rgd.DeepCopy()
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(cur), cur))
	orig := cur.DeepCopy()
	cur.SetFinalizers(append(cur.GetFinalizers(), finalizer))
	require.NoError(t, c.Patch(ctx, cur, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})), "the controller adds a finalizer")
	orig = cur.DeepCopy()
	var kept []string
	for _, f := range cur.GetFinalizers() {
		if f != finalizer {
			kept = append(kept, f)
		}
	}
	cur.SetFinalizers(kept)
	require.NoError(t, c.Patch(ctx, cur, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})), "the controller removes a finalizer")
	assert.NotContains(t, strings.Join(cur.GetFinalizers(), ","), finalizer)
}
