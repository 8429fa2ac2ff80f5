package trust_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

	kind := func(group, k, res string) graph.InstanceKind {
		return graph.InstanceKind{GVK: schema.GroupVersionKind{Group: group, Version: "v1", Kind: k}, Resource: res, Namespaced: true}
	}
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

	got := same(kind("example.com", "Gadget", "gadgets"))
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "already served by CustomResourceDefinition gadgets.example.com, which korvid does not manage")
	got = same(kind("networking.k8s.io", "Ingress", "ingresses"))
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "kind Ingress of group networking.k8s.io is already served by the API server (resource ingresses")
	assert.Empty(t, same(kind("example.org", "Fresh", "freshes")), "a kind nobody serves is free")
	assert.Positive(t, counter.get(http.StatusNotModified), "an unchanged document is answered 304")

	// A kind served a moment ago is seen at once: the ETag changes with it.
	widgets := crd("example.com", "Widget", "widgets")
	require.NoError(t, env.Client.Create(t.Context(), widgets))
	waitEstablished(t, env.Client, widgets.Name)
	require.Eventually(t, func() bool {
		return len(trust.CheckServed(t.Context(), disc, env.Client, "mine", kind("example.com", "Widget", "widgets"))) == 1
	}, 10*time.Second, 10*time.Millisecond, "discovery group by group lists the new kind")
	errs := trust.CheckServed(t.Context(), agg, env.Client, "mine", kind("example.com", "Widget", "widgets"))
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
				Schema: &extv1.CustomResourceValidation{OpenAPIV3Schema: &extv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptrTrue()}}}},
		},
	}
}

func ptrTrue() *bool { v := true; return &v }

func waitEstablished(t *testing.T, c client.Client, name string) {
	t.Helper()
	require.Eventually(t, func() bool {
		got := &extv1.CustomResourceDefinition{}
		if c.Get(t.Context(), client.ObjectKey{Name: name}, got) != nil {
			return false
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == extv1.Established && cond.Status == extv1.ConditionTrue {
				return true
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond, "CRD %s established", name)
}
