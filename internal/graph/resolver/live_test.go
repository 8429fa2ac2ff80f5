package resolver_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/validation/spec"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/test/envtest"

	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/resolver"
)

var (
	apiServerOnce sync.Once
	apiServerEnv  *envtest.Env
	apiServerErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := apiServerEnv.Stop(); err != nil && code == 0 {
		code = 1
	}
	os.Exit(code)
}

// apiServer starts the suite's control plane (test/envtest) on first use;
// the tests that need none run without it.
func apiServer(tb testing.TB) *rest.Config {
	tb.Helper()
	if _, err := envtest.BinaryDir(); err != nil {
		tb.Skip(err)
	}
	apiServerOnce.Do(func() { apiServerEnv, apiServerErr = envtest.Start(envtest.Options{}) })
	require.NoError(tb, apiServerErr, "starting kube-apiserver")
	return rest.CopyConfig(apiServerEnv.Config)
}

// countingDiscovery returns a discovery client and a counter of the HTTP
// requests it makes.
func countingDiscovery(t *testing.T, cfg *rest.Config) (discovery.DiscoveryInterface, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			n.Add(1)
			return rt.RoundTrip(req)
		})
	}
	d, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	return d, &n
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestLiveResolvesBuiltins(t *testing.T) {
	cfg := apiServer(t)
	d, requests := countingDiscovery(t, cfg)
	live := resolver.NewLive(d)
	static, err := resolver.NewStatic()
	require.NoError(t, err)

	for _, gvk := range []schema.GroupVersionKind{
		{Group: "apps", Version: "v1", Kind: "Deployment"},
		{Group: "apps", Version: "v1", Kind: "StatefulSet"},
		{Version: "v1", Kind: "Service"},
		{Version: "v1", Kind: "Namespace"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"},
		{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
	} {
		t.Run(gvk.String(), func(t *testing.T) {
			k, err := live.Resolve(gvk)
			require.NoError(t, err)
			want, err := static.Resolve(gvk)
			require.NoError(t, err)
			assert.Equal(t, want.Resource, k.Resource)
			assert.Equal(t, want.Namespaced, k.Namespaced)
			assert.Equal(t, spec.StringOrArray{"string"}, at(t, k.Schema, "metadata.name").Type)
		})
	}
	deploy, err := live.Resolve(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	require.NoError(t, err)
	assert.Equal(t, "int32", at(t, deploy.Schema, "spec.replicas").Format)
	assert.Equal(t, spec.StringOrArray{"string"}, at(t, deploy.Schema, "spec.template.spec.containers.[].image").Type)

	t.Run("warm lookups do not hit the API server", func(t *testing.T) {
		before := requests.Load()
		for range 100 {
			_, err := live.Resolve(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
			require.NoError(t, err)
		}
		assert.Equal(t, before, requests.Load())
	})
	t.Run("invalidation refetches", func(t *testing.T) {
		live.Invalidate(schema.GroupKind{Group: "apps", Kind: "Deployment"})
		before := requests.Load()
		k, err := live.Resolve(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
		require.NoError(t, err)
		assert.Equal(t, "deployments", k.Resource)
		assert.Greater(t, requests.Load(), before)

		// Another group stays cached.
		before = requests.Load()
		_, err = live.Resolve(schema.GroupVersionKind{Version: "v1", Kind: "Service"})
		require.NoError(t, err)
		assert.Equal(t, before, requests.Load())

		live.InvalidateAll()
		_, err = live.Resolve(schema.GroupVersionKind{Version: "v1", Kind: "Service"})
		require.NoError(t, err)
		assert.Greater(t, requests.Load(), before)
	})
	t.Run("concurrent cold lookups share one answer", func(t *testing.T) {
		live.InvalidateAll()
		gvks := []schema.GroupVersionKind{
			{Group: "apps", Version: "v1", Kind: "DaemonSet"},
			{Group: "batch", Version: "v1", Kind: "Job"},
			{Version: "v1", Kind: "Secret"},
		}
		results := make([][]*graph.ResolvedKind, 6)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() {
				for _, gvk := range gvks {
					k, err := live.Resolve(gvk)
					assert.NoError(t, err)
					results[i] = append(results[i], k)
				}
			})
		}
		wg.Wait()
		for i := range results {
			require.Len(t, results[i], len(gvks))
			for j := range gvks {
				assert.Same(t, results[0][j], results[i][j], "%s fetched once and shared", gvks[j])
			}
		}
	})
	t.Run("unknown kinds", func(t *testing.T) {
		for _, gvk := range []schema.GroupVersionKind{
			{Group: "apps", Version: "v1", Kind: "Nope"},
			{Group: "apps", Version: "v9", Kind: "Deployment"},
			{Group: "nowhere.example.com", Version: "v1", Kind: "Thing"},
			{Group: "apps", Kind: "Deployment"},
			{},
		} {
			_, err := live.Resolve(gvk)
			require.ErrorIs(t, err, graph.ErrKindNotFound, gvk.String())
		}
		before := requests.Load()
		_, err := live.Resolve(schema.GroupVersionKind{Group: "nowhere.example.com", Version: "v1", Kind: "Thing"})
		require.ErrorIs(t, err, graph.ErrKindNotFound)
		assert.Equal(t, before, requests.Load(), "a recent miss is remembered")
	})
}

func TestLiveDropsDocumentsAfterTheirTTL(t *testing.T) {
	cfg := apiServer(t)
	d, requests := countingDiscovery(t, cfg)
	live := resolver.NewLive(d, resolver.WithDocumentTTL(50*time.Millisecond))
	deployment := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	_, err := live.Resolve(deployment)
	require.NoError(t, err)
	require.Equal(t, 1, live.Documents())

	before := requests.Load()
	_, err = live.Resolve(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"})
	require.NoError(t, err)
	assert.Equal(t, before, requests.Load(), "another kind of the group/version soon after is resolved from the kept documents")

	require.Eventually(t, func() bool { return live.Documents() == 0 }, 10*time.Second, 10*time.Millisecond, "the documents are dropped")
	before = requests.Load()
	_, err = live.Resolve(deployment)
	require.NoError(t, err)
	assert.Equal(t, before, requests.Load(), "resolved kinds stay cached")
	k, err := live.Resolve(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"})
	require.NoError(t, err)
	assert.Equal(t, "daemonsets", k.Resource)
	assert.Greater(t, requests.Load(), before, "a new kind fetches the documents again")
	assert.Equal(t, 1, live.Documents())
}

func TestLiveCRDBecomesResolvableAfterInvalidation(t *testing.T) {
	cfg := apiServer(t)
	d, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	// Misses are remembered for longer than the test runs, so only the CRD
	// informer can make the new kind resolvable.
	live := resolver.NewLive(d, resolver.WithMissTTL(time.Hour))
	ext, err := apiextensionsclient.NewForConfig(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// As both binaries do: the handler on a controller-runtime cache's
	// CustomResourceDefinition informer (slimmed, as the controller's is).
	scheme := runtime.NewScheme()
	require.NoError(t, extv1.AddToScheme(scheme))
	crdCache, err := ctrlcache.New(cfg, ctrlcache.Options{Scheme: scheme, ByObject: map[client.Object]ctrlcache.ByObject{
		&extv1.CustomResourceDefinition{}: {Transform: resolver.SlimCRD},
	}})
	require.NoError(t, err)
	inf, err := crdCache.GetInformer(ctx, &extv1.CustomResourceDefinition{})
	require.NoError(t, err)
	_, err = inf.AddEventHandler(live.CRDEventHandler())
	require.NoError(t, err)
	go func() { _ = crdCache.Start(ctx) }()
	require.True(t, crdCache.WaitForCacheSync(ctx))

	widget := schema.GroupVersionKind{Group: "example.korvid.dev", Version: "v1", Kind: "Widget"}
	_, err = live.Resolve(widget)
	require.ErrorIs(t, err, graph.ErrKindNotFound)

	crds, err := resolver.ReadCRDFiles("testdata/crds.yaml")
	require.NoError(t, err)
	for _, crd := range crds {
		_, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = ext.ApiextensionsV1().CustomResourceDefinitions().Delete(context.Background(), crd.Name, metav1.DeleteOptions{})
		})
	}

	var k *graph.ResolvedKind
	require.Eventually(t, func() bool {
		k, err = live.Resolve(widget)
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "Widget never became resolvable: %v", err)
	assert.Equal(t, "widgets", k.Resource)
	assert.True(t, k.Namespaced)
	assert.Equal(t, "int32", at(t, k.Schema, "spec.size").Format)
	assert.Equal(t, spec.StringOrArray{"string"}, at(t, k.Schema, "metadata.name").Type)

	// The static resolver reading the same file agrees with the API server.
	static, err := resolver.NewStaticFromFiles("testdata/crds.yaml")
	require.NoError(t, err)
	want, err := static.Resolve(widget)
	require.NoError(t, err)
	for _, path := range []string{"spec.size", "spec.color", "spec.tags.[]", "status.ready", "metadata.name", "metadata.labels.{}", "spec.template.metadata.name"} {
		assert.Equal(t, at(t, want.Schema, path).Type, at(t, k.Schema, path).Type, path)
		assert.Equal(t, at(t, want.Schema, path).Format, at(t, k.Schema, path).Format, path)
	}

	gadget := schema.GroupVersionKind{Group: "example.korvid.dev", Version: "v1", Kind: "Gadget"}
	require.Eventually(t, func() bool {
		k, err = live.Resolve(gadget)
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "Gadget never became resolvable: %v", err)
	assert.False(t, k.Namespaced)

	// Deleting the CRD makes the kind unknown again.
	require.NoError(t, ext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, "widgets.example.korvid.dev", metav1.DeleteOptions{}))
	require.Eventually(t, func() bool {
		_, err = live.Resolve(widget)
		return err != nil
	}, 30*time.Second, 100*time.Millisecond, "Widget stayed resolvable after its CRD was deleted")
	assert.ErrorIs(t, err, graph.ErrKindNotFound)
}

// TestBuiltinSnapshotMatchesAPIServer checks the embedded snapshot against the
// API server the tests run: every built-in kind it serves is known with the
// same resource and scope.
func TestBuiltinSnapshotMatchesAPIServer(t *testing.T) {
	cfg := apiServer(t)
	d, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(t, err)
	static, err := resolver.NewStatic()
	require.NoError(t, err)
	_, lists, err := d.ServerGroupsAndResources()
	require.NoError(t, err)
	checked := 0
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		require.NoError(t, err)
		if gv.Group == "example.korvid.dev" || gv.Group == "kro.run" || gv.Group == "internal.kro.run" {
			continue // created by another test, or korvid's own CRDs that envtest installs
		}
		for _, r := range list.APIResources {
			if r.Kind == "" || strings.Contains(r.Name, "/") {
				continue
			}
			k, err := static.Resolve(gv.WithKind(r.Kind))
			if !assert.NoError(t, err, "%s %s", gv, r.Kind) {
				continue
			}
			if k.Resource == r.Name {
				assert.Equal(t, r.Namespaced, k.Namespaced, "%s %s", gv, r.Kind)
				checked++
			}
		}
	}
	assert.Greater(t, checked, 50, "built-in kinds checked")
}

func BenchmarkLiveResolveWarm(b *testing.B) {
	cfg := apiServer(b)
	d, err := discovery.NewDiscoveryClientForConfig(cfg)
	require.NoError(b, err)
	live := resolver.NewLive(d)
	gvk := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	_, err = live.Resolve(gvk)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := live.Resolve(gvk); err != nil {
			b.Fatal(err)
		}
	}
}
