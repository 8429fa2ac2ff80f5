package trust_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/trust"
	"github.com/korvid/korvid/test/envtest"
)

// statusCounter counts the answers of the API server to GET /apis by status.
type statusCounter struct {
	mu sync.Mutex
	by map[int]int
}

func (s *statusCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err == nil && req.URL.Path == "/apis" {
			s.mu.Lock()
			s.by[resp.StatusCode]++
			s.mu.Unlock()
		}
		return resp, err
	})
}

func (s *statusCounter) get(code int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.by[code]
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The aggregated document gives the served-kind check the answers discovery
// group by group gives, against a real API server, as fresh, and answers an
// unchanged document with a 304.
func TestAggregatedDiscoveryAnswersAsGroupByGroup(t *testing.T) {
	env, err := envtest.Start(envtest.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Stop() })

	counter := &statusCounter{by: map[int]int{}}
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = counter.wrap
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	agg := trust.WithAggregatedDiscovery(disc)

	messages := func(errs field.ErrorList) []string {
		out := []string{}
		for _, e := range errs {
			out = append(out, e.Error())
		}
		return out
	}
	same := func(k graph.InstanceKind) []string {
		t.Helper()
		want := messages(trust.CheckServed(t.Context(), disc, env.Client, "mine", k))
		got := messages(trust.CheckServed(t.Context(), agg, env.Client, "mine", k))
		assert.Equal(t, want, got, "%s", k.GVK)
		return got
	}

	gadgets := crd("example.com", "Gadget", "gadgets")
	require.NoError(t, env.Client.Create(t.Context(), gadgets))
	waitEstablished(t, env.Client, gadgets.Name)

	got := same(instanceKind("example.com", "Gadget", "gadgets"))
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "already served by CustomResourceDefinition gadgets.example.com, which korvid does not manage")
	got = same(instanceKind("networking.k8s.io", "Ingress", "ingresses"))
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "kind Ingress of group networking.k8s.io is already served by the API server (resource ingresses")
	assert.Empty(t, same(instanceKind("example.org", "Fresh", "freshes")), "a kind nobody serves is free")
	assert.Positive(t, counter.get(http.StatusNotModified), "an unchanged document is answered 304")

	// A kind served a moment ago is seen at once: the ETag changes with it.
	widgets := crd("example.com", "Widget", "widgets")
	require.NoError(t, env.Client.Create(t.Context(), widgets))
	waitEstablished(t, env.Client, widgets.Name)
	require.Eventually(t, func() bool {
		return len(trust.CheckServed(t.Context(), disc, env.Client, "mine", instanceKind("example.com", "Widget", "widgets"))) == 1
	}, 10*time.Second, 10*time.Millisecond, "discovery group by group lists the new kind")
	errs := trust.CheckServed(t.Context(), agg, env.Client, "mine", instanceKind("example.com", "Widget", "widgets"))
	require.Len(t, errs, 1, "the aggregated document lists the new kind as soon as discovery group by group does")
	assert.Contains(t, errs[0].Error(), "CustomResourceDefinition widgets.example.com")
}

func crd(group, kind, plural string) *extv1.CustomResourceDefinition {
	return &extv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + group},
		Spec: extv1.CustomResourceDefinitionSpec{
			Group: group, Scope: extv1.NamespaceScoped,
			Names: extv1.CustomResourceDefinitionNames{Kind: kind, Plural: plural, ListKind: kind + "List"},
			Versions: []extv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &extv1.CustomResourceValidation{OpenAPIV3Schema: &extv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr.To(true)}}}},
		},
	}
}

// instanceKind is a namespaced generated kind of version v1.
func instanceKind(group, kind, resource string) graph.InstanceKind {
	return graph.InstanceKind{GVK: schema.GroupVersionKind{Group: group, Version: "v1", Kind: kind}, Resource: resource, Namespaced: true}
}

func waitEstablished(t *testing.T, c client.Client, name string) {
	t.Helper()
	require.Eventually(t, func() bool {
		got := &extv1.CustomResourceDefinition{}
		return c.Get(t.Context(), client.ObjectKey{Name: name}, got) == nil && apihelpers.IsCRDConditionTrue(got, extv1.Established)
	}, 20*time.Second, 20*time.Millisecond, "CRD %s established", name)
}

// A group with a version the API server reports stale (an aggregated API
// that is down) cannot be vouched for; an API server without the aggregated
// document is asked group by group.
func TestAggregatedDiscoveryStaleAndUnsupported(t *testing.T) {
	doc := `{"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","items":[
	  {"metadata":{"name":"metrics.example.com"},"versions":[{"version":"v1","freshness":"Stale","resources":[]}]},
	  {"metadata":{"name":"example.com"},"versions":[{"version":"v1","freshness":"Current","resources":[
	    {"resource":"gadgets","responseKind":{"group":"example.com","version":"v1","kind":"Gadget"},"scope":"Namespaced","verbs":["get"]}]}]}]}`
	aggregated := true
	var groupByGroup int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/apis" && aggregated:
			w.Header().Set("ETag", `"v1"`)
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("Content-Type", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
			_, _ = w.Write([]byte(doc))
		case r.URL.Path == "/apis":
			// An API server without the aggregated document answers
			// with the plain group list.
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"kind":"APIGroupList","apiVersion":"v1","groups":[]}`))
		default:
			// The group-by-group questions: no group is served.
			groupByGroup++
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	disc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	agg := trust.WithAggregatedDiscovery(disc)
	scheme := runtime.NewScheme()
	require.NoError(t, extv1.AddToScheme(scheme))
	crds := fake.NewClientBuilder().WithScheme(scheme).Build()

	errs := trust.CheckServed(t.Context(), agg, crds, "mine", instanceKind("metrics.example.com", "Metric", "metrics"))
	require.Len(t, errs, 1)
	assert.Equal(t, field.ErrorTypeInternal, errs[0].Type)
	assert.Contains(t, errs[0].Error(), "discovering metrics.example.com/v1: the API server could not reach the API serving it")
	errs = trust.CheckServed(t.Context(), agg, crds, "mine", instanceKind("example.com", "Gadget", "gadgets"))
	require.Len(t, errs, 1, "answered from the document kept for the 304")
	assert.Contains(t, errs[0].Error(), "already served by the API server (resource gadgets")
	assert.Zero(t, groupByGroup)

	aggregated = false
	fresh := trust.WithAggregatedDiscovery(disc)
	assert.Empty(t, trust.CheckServed(t.Context(), fresh, crds, "mine", instanceKind("example.com", "Gadget", "gadgets")), "group by group, nothing is served")
	assert.Positive(t, groupByGroup, "without the aggregated document the group is asked for")
}
