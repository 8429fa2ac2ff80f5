package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// loadTimeLimit bounds one load run; requests not started by then are not
// sent and the run fails.
const loadTimeLimit = 3 * time.Minute

// loadTarget is the running webhook server of the suite seen from a client:
// its loopback address and an HTTPS client trusting the CA the API server
// trusts for it.
type loadTarget struct {
	base   string
	client *http.Client
}

// newLoadTarget returns a keep-alive HTTPS client with one connection per
// worker to the suite's webhook server. The CA comes from the installed
// ValidatingWebhookConfiguration, the bundle the API server verifies the
// server with (it follows certificate rotation in the suite).
func newLoadTarget(b *testing.B, s *suite, workers int) *loadTarget {
	b.Helper()
	host, _, err := net.SplitHostPort(s.hostPort)
	require.NoError(b, err)
	ip := net.ParseIP(host)
	require.True(b, ip != nil && ip.IsLoopback(), "the load test targets only the loopback webhook server, not %s", s.hostPort)

	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	require.NoError(b, env.Client.Get(ctx(b), client.ObjectKey{Name: "validating-webhook-configuration"}, cfg))
	require.NotEmpty(b, cfg.Webhooks)
	pool := x509.NewCertPool()
	require.True(b, pool.AppendCertsFromPEM(cfg.Webhooks[0].ClientConfig.CABundle), "the webhook configuration carries a CA bundle")

	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConns:        workers,
		MaxIdleConnsPerHost: workers,
		MaxConnsPerHost:     workers,
		IdleConnTimeout:     time.Minute,
	}
	b.Cleanup(tr.CloseIdleConnections)
	return &loadTarget{base: "https://" + s.hostPort, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// review posts one AdmissionReview and returns the server's response.
func (l *loadTarget) review(ctx context.Context, path string, body []byte) (*admissionv1.AdmissionResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("decoding the AdmissionReview: %w", err)
	}
	if out.Response == nil {
		return nil, fmt.Errorf("the AdmissionReview carries no response: %s", data)
	}
	return out.Response, nil
}

// admissionReview encodes a v1 AdmissionReview carrying req.
func admissionReview(b *testing.B, req admissionv1.AdmissionRequest) []byte {
	b.Helper()
	raw, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req,
	})
	require.NoError(b, err)
	return raw
}

// runLoad sends b.N copies of body to path from workers concurrent clients,
// each waiting for its answer before sending the next, and reports p50-ms,
// p99-ms and req/s. Every answer must allow the request.
func runLoad(b *testing.B, l *loadTarget, path string, body []byte, workers int) {
	b.Helper()
	c, cancel := context.WithTimeout(context.Background(), loadTimeLimit)
	defer cancel()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		all      = make(latencies, 0, b.N)
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Go(func() {
			own := make(latencies, 0, b.N/workers+1)
			defer func() {
				mu.Lock()
				all = append(all, own...)
				mu.Unlock()
			}()
			for next.Add(1) <= int64(b.N) && c.Err() == nil {
				t0 := time.Now()
				resp, err := l.review(c, path, body)
				d := time.Since(t0)
				if err != nil {
					fail(err)
					return
				}
				if !resp.Allowed {
					fail(fmt.Errorf("denied: %v", resp.Result))
					return
				}
				own = append(own, d)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	require.NoError(b, firstErr)
	require.Len(b, all, b.N, "every request was answered within %s", loadTimeLimit)
	all.report(b)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
}

// instanceLoadWorkers is the concurrency the instance webhook is held to.
const instanceLoadWorkers = 50

// loadWidgetReview registers the LoadWidget RGD (the widget of the unit
// tests: loops, conditions, every kind of expression) with the suite's
// webhook and returns a function encoding the AdmissionReview of an
// instance of it named name.
func loadWidgetReview(b *testing.B, s *suite) func(name string) []byte {
	b.Helper()
	rgd := parseRGD(b, []byte(strings.Replace(widgetRGD, "kind: Widget", "kind: LoadWidget", 1)))
	rgd.Name, rgd.UID, rgd.Generation = "load-widgets", "", 0
	gvk := schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "LoadWidget"}
	if err := env.Client.Create(ctx(b), rgd); err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(b, err)
	}
	require.Eventually(b, func() bool {
		got, err := s.server.Registry.ForKind(context.Background(), gvk)
		return err == nil && got != nil
	}, 10*time.Second, 20*time.Millisecond)
	return func(name string) []byte {
		obj := instance(map[string]any{
			"name": name, "replicas": 2, "regions": []any{"eu", "us", "ap"}, "engine": "postgres",
			"users": []any{"ann", "bob"}, "withDB": true, "divisor": 4,
		})
		obj["kind"] = gvk.Kind
		raw, err := json.Marshal(obj)
		require.NoError(b, err)
		return admissionReview(b, admissionv1.AdmissionRequest{
			UID: types.UID("load-" + name), Operation: admissionv1.Create, Name: "w", Namespace: "default", UserInfo: admin,
			Kind:     metav1.GroupVersionKind(gvk),
			Resource: metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: "loadwidgets"},
			Object:   runtime.RawExtension{Raw: raw},
		})
	}
}

// BenchmarkInstanceAdmissionLoad drives the running webhook server over TLS,
// as the API server does, with 50 concurrent keep-alive clients posting
// AdmissionReviews of a valid instance to the instance validation path, with
// the compiled graph cached. It reports end-to-end p50/p99 and throughput.
func BenchmarkInstanceAdmissionLoad(b *testing.B) {
	s := webhookServer(b)
	request := loadWidgetReview(b, s)
	l := newLoadTarget(b, s, instanceLoadWorkers)
	// The path does real work: an instance rendering an invalid name is
	// denied; the valid one is allowed and warms the graph cache.
	bad, err := l.review(ctx(b), InstanceValidatePath, request("Shop_Front"))
	require.NoError(b, err)
	require.False(b, bad.Allowed, "an instance rendering an invalid name is denied")
	body := request("shop")
	ok, err := l.review(ctx(b), InstanceValidatePath, body)
	require.NoError(b, err)
	require.True(b, ok.Allowed, "%v", ok.Result)
	require.Empty(b, ok.Warnings, "the graph compiles")

	runLoad(b, l, InstanceValidatePath, body, instanceLoadWorkers)
}

// floorPath serves the floor of the admission load: every review allowed
// without looking at it.
const floorPath = "/bench-floor-allow"

var registerFloor sync.Once

// BenchmarkAdmissionLoadFloor is BenchmarkInstanceAdmissionLoad's harness
// with nothing behind it: the same server, TLS connections, 50 clients and
// AdmissionReview, answered by a handler that allows every review without
// looking at it (the review is still decoded and the answer encoded, as for
// any webhook). On one machine the clients and the server share the cores,
// so this is the most any webhook can serve here; the instance webhook's
// throughput is read against it.
func BenchmarkAdmissionLoadFloor(b *testing.B) {
	s := webhookServer(b)
	registerFloor.Do(func() {
		allow := admission.HandlerFunc(func(context.Context, admission.Request) admission.Response { return admission.Allowed("") })
		s.server.mgr.GetWebhookServer().Register(floorPath, newReviewServer(allow))
	})
	body := loadWidgetReview(b, s)("shop")
	l := newLoadTarget(b, s, instanceLoadWorkers)
	ok, err := l.review(ctx(b), floorPath, body)
	require.NoError(b, err)
	require.True(b, ok.Allowed, "%v", ok.Result)

	runLoad(b, l, floorPath, body, instanceLoadWorkers)
}

// rgdLoadWorkers is the concurrency of the RGD load: RGDs are written by
// people and pipelines, far less often than instances.
const rgdLoadWorkers = 8

// BenchmarkRGDAdmissionLoad drives the running webhook server's RGD
// validation path over TLS with 8 concurrent keep-alive clients: compile
// with the warm schema cache, kind checks and (cached) SubjectAccessReviews.
func BenchmarkRGDAdmissionLoad(b *testing.B) {
	s := webhookServer(b)
	rgd := loadRGD(b, testdataFile("rgd", "valid", "webapp.yaml"))
	rgd.UID = ""
	raw, err := json.Marshal(rgd)
	require.NoError(b, err)
	body := admissionReview(b, admissionv1.AdmissionRequest{
		UID: "load-rgd", Operation: admissionv1.Create, Name: rgd.Name, UserInfo: admin,
		Kind:     metav1.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "ResourceGraphDefinition"},
		Resource: metav1.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"},
		Object:   runtime.RawExtension{Raw: raw},
	})
	l := newLoadTarget(b, s, rgdLoadWorkers)
	ok, err := l.review(ctx(b), RGDValidatePath, body)
	require.NoError(b, err)
	require.True(b, ok.Allowed, "%v", ok.Result)

	runLoad(b, l, RGDValidatePath, body, rgdLoadWorkers)
}
