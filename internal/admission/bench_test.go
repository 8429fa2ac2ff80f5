package admission

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// latencies records per-request times and reports p50/p99.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	pct := func(p float64) float64 {
		i := int(float64(len(l)-1) * p)
		return float64(l[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// admin is who the benchmark requests come from: system:masters passes
// every SubjectAccessReview after asking the API server.
var admin = authenticationv1.UserInfo{Username: "bench-admin", Groups: []string{"system:masters", "system:authenticated"}}

// BenchmarkRGDAdmission measures the RGD validating webhook's handler with
// the production wiring: compile with the live resolver (warm), kind checks
// against the informer cache, SubjectAccessReviews against the API server.
func BenchmarkRGDAdmission(b *testing.B) {
	s := webhookServer(b)
	rgd := loadRGD(b, testdataFile("rgd", "valid", "webapp.yaml"))
	rgd.UID = ""
	raw, err := json.Marshal(rgd)
	require.NoError(b, err)
	h := guard(nil, "ResourceGraphDefinition", DefaultHandlerTimeout, admission.WithValidator(env.Scheme, s.server.Validator))
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "bench", Operation: admissionv1.Create, Name: rgd.Name, UserInfo: admin,
		Kind:   metav1.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "ResourceGraphDefinition"},
		Object: runtime.RawExtension{Raw: raw},
	}}
	resp := h.Handle(context.Background(), req)
	require.True(b, resp.Allowed, "%v", resp.Result)
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		resp := h.Handle(context.Background(), req)
		lat = append(lat, time.Since(start))
		if !resp.Allowed {
			b.Fatalf("denied: %v", resp.Result)
		}
	}
	b.StopTimer()
	lat.report(b)
}

// BenchmarkInstanceAdmission measures the instance validating webhook's
// handler with a warm graph cache: routing by kind, evaluation, name and
// schema checks of every rendered object.
func BenchmarkInstanceAdmission(b *testing.B) {
	s := webhookServer(b)
	rgd := parseRGD(b, []byte(widgetRGD))
	rgd.Name, rgd.UID, rgd.Generation = "bench-widgets", "", 0
	widget := schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "Widget"}
	require.NoError(b, env.Client.Create(context.Background(), rgd))
	b.Cleanup(func() { _ = env.Client.Delete(context.Background(), rgd) })
	require.Eventually(b, func() bool {
		got, err := s.server.Registry.ForKind(context.Background(), widget)
		return err == nil && got != nil
	}, 10*time.Second, 20*time.Millisecond)
	raw, err := json.Marshal(instance(map[string]any{
		"name": "shop", "replicas": 2, "regions": []any{"eu", "us", "ap"}, "engine": "postgres",
		"users": []any{"ann", "bob"}, "withDB": true, "divisor": 4,
	}))
	require.NoError(b, err)
	h := guard(nil, "", DefaultHandlerTimeout, &InstanceValidator{Registry: s.server.Registry})
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "bench", Operation: admissionv1.Create, Name: "w", Namespace: "default", UserInfo: admin,
		Kind:   metav1.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "Widget"},
		Object: runtime.RawExtension{Raw: raw},
	}}
	resp := h.Handle(context.Background(), req)
	require.True(b, resp.Allowed, "%v", resp.Result)
	require.Empty(b, resp.Warnings, "the graph compiles")
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		resp := h.Handle(context.Background(), req)
		lat = append(lat, time.Since(start))
		if !resp.Allowed {
			b.Fatalf("denied: %v", resp.Result)
		}
	}
	b.StopTimer()
	lat.report(b)
}
