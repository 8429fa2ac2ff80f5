package resolver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apiextensionsinformers "k8s.io/apiextensions-apiserver/pkg/client/informers/externalversions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	celresolver "k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/korvid/korvid/internal/graph"
)

// DefaultMissTTL is how long Live remembers that a kind is not served.
const DefaultMissTTL = 5 * time.Second

// Live resolves kinds through an API server's discovery and OpenAPI v3
// documents. Resolved kinds are cached until invalidated; a kind that is not
// served is remembered for a short while (MissTTL) or until invalidated, so
// repeated misses do not hit the API server. It is safe for concurrent use.
type Live struct {
	disc    discovery.DiscoveryInterface
	missTTL time.Duration
	now     func() time.Time

	mu     sync.RWMutex
	kinds  map[schema.GroupVersionKind]*graph.ResolvedKind
	misses map[schema.GroupVersionKind]miss
	docs   map[schema.GroupVersion]*gvDoc
	// epoch counts invalidations: a fetch that raced with one is not cached.
	epoch uint64

	// fetchMu serializes API server round trips so concurrent misses for the
	// same group/version fetch its documents once.
	fetchMu sync.Mutex
}

type miss struct {
	err   error
	until time.Time
}

var _ graph.SchemaResolver = (*Live)(nil)

// LiveOption configures a Live resolver.
type LiveOption func(*Live)

// WithMissTTL sets how long a kind that is not served is remembered; zero or
// less disables remembering misses.
func WithMissTTL(d time.Duration) LiveOption { return func(l *Live) { l.missTTL = d } }

// NewLive returns a resolver asking the API server behind d. d should not cache
// by itself (or be a discovery.CachedDiscoveryInterface, which is invalidated
// along with the resolver).
func NewLive(d discovery.DiscoveryInterface, opts ...LiveOption) *Live {
	l := &Live{
		disc:    d,
		missTTL: DefaultMissTTL,
		now:     time.Now,
		kinds:   map[schema.GroupVersionKind]*graph.ResolvedKind{},
		misses:  map[schema.GroupVersionKind]miss{},
		docs:    map[schema.GroupVersion]*gvDoc{},
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Resolve implements graph.SchemaResolver.
func (l *Live) Resolve(gvk schema.GroupVersionKind) (*graph.ResolvedKind, error) {
	if k, ok, err := l.cached(gvk); ok {
		return k, err
	}
	l.fetchMu.Lock()
	defer l.fetchMu.Unlock()
	if k, ok, err := l.cached(gvk); ok {
		return k, err
	}

	l.mu.RLock()
	epoch := l.epoch
	doc := l.docs[gvk.GroupVersion()]
	l.mu.RUnlock()

	var err error
	if doc == nil {
		doc, err = fetchGV(context.Background(), l.disc, gvk.GroupVersion(), nil)
	}
	var k *graph.ResolvedKind
	if err == nil {
		k, err = resolveFromDoc(doc, gvk)
	}
	if err != nil && !errors.Is(err, graph.ErrKindNotFound) {
		return nil, err // transient: neither cached nor remembered
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.epoch != epoch {
		return k, err // invalidated while fetching: the answer may be stale
	}
	if doc != nil {
		l.docs[gvk.GroupVersion()] = doc
	}
	if err != nil {
		if l.missTTL > 0 {
			l.misses[gvk] = miss{err: err, until: l.now().Add(l.missTTL)}
		}
		return nil, err
	}
	l.kinds[gvk] = k
	return k, nil
}

// cached returns a cached answer; ok is false when the API server must be asked.
func (l *Live) cached(gvk schema.GroupVersionKind) (*graph.ResolvedKind, bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if k, ok := l.kinds[gvk]; ok {
		return k, true, nil
	}
	if m, ok := l.misses[gvk]; ok && l.now().Before(m.until) {
		return nil, true, m.err
	}
	return nil, false, nil
}

func resolveFromDoc(doc *gvDoc, gvk schema.GroupVersionKind) (*graph.ResolvedKind, error) {
	info, ok := doc.kinds[gvk.Kind]
	if !ok {
		return nil, fmt.Errorf("kind %q is not served by group/version %q: %w", gvk.Kind, doc.gv, graph.ErrKindNotFound)
	}
	def, ok := doc.defs[gvk.Kind]
	if !ok {
		return nil, fmt.Errorf("the API server publishes no OpenAPI v3 schema for %s (resource %q): %w", gvk, info.Resource, graph.ErrKindNotFound)
	}
	s, err := celresolver.PopulateRefs(func(ref string) (*spec.Schema, bool) {
		s, ok := doc.schemas[trimRef(ref)]
		return s, ok && s != nil
	}, refPrefix+def)
	if err != nil {
		return nil, fmt.Errorf("resolving the schema of %s: %w", gvk, err)
	}
	return &graph.ResolvedKind{GVK: gvk, Resource: info.Resource, Namespaced: info.Namespaced, Schema: s}, nil
}

func trimRef(ref string) string {
	if len(ref) > len(refPrefix) && ref[:len(refPrefix)] == refPrefix {
		return ref[len(refPrefix):]
	}
	return ref
}

// Invalidate forgets what is cached about the kinds of gk's group (every
// version's documents), so the next Resolve asks the API server again.
func (l *Live) Invalidate(gk schema.GroupKind) {
	l.mu.Lock()
	l.epoch++
	for gvk := range l.kinds {
		if gvk.GroupKind() == gk {
			delete(l.kinds, gvk)
		}
	}
	for gvk := range l.misses {
		if gvk.Group == gk.Group {
			delete(l.misses, gvk)
		}
	}
	for gv := range l.docs {
		if gv.Group == gk.Group {
			delete(l.docs, gv)
		}
	}
	l.mu.Unlock()
	l.invalidateDiscovery()
}

// InvalidateAll forgets everything cached.
func (l *Live) InvalidateAll() {
	l.mu.Lock()
	l.epoch++
	clear(l.kinds)
	clear(l.misses)
	clear(l.docs)
	l.mu.Unlock()
	l.invalidateDiscovery()
}

func (l *Live) invalidateDiscovery() {
	if c, ok := l.disc.(discovery.CachedDiscoveryInterface); ok {
		c.Invalidate()
	}
}

// CRDEventHandler returns an informer event handler that invalidates the
// group and kind of every CustomResourceDefinition added, changed or deleted.
func (l *Live) CRDEventHandler() cache.ResourceEventHandler {
	invalidate := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if crd, ok := obj.(*extv1.CustomResourceDefinition); ok {
			l.Invalidate(schema.GroupKind{Group: crd.Spec.Group, Kind: crd.Spec.Names.Kind})
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: invalidate,
		UpdateFunc: func(oldObj, newObj any) {
			invalidate(oldObj)
			invalidate(newObj)
		},
		DeleteFunc: invalidate,
	}
}

// WatchCRDs starts a CustomResourceDefinition informer that invalidates the
// resolver on every change, and returns once it has synced. The informer
// stops when ctx is done.
func (l *Live) WatchCRDs(ctx context.Context, client apiextensionsclient.Interface) error {
	factory := apiextensionsinformers.NewSharedInformerFactory(client, 0)
	informer := factory.Apiextensions().V1().CustomResourceDefinitions().Informer()
	// Only the group and kind matter: do not keep whole schemas in memory.
	if err := informer.SetTransform(slimCRD); err != nil {
		return fmt.Errorf("watching CustomResourceDefinitions: %w", err)
	}
	if _, err := informer.AddEventHandler(l.CRDEventHandler()); err != nil {
		return fmt.Errorf("watching CustomResourceDefinitions: %w", err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		factory.Shutdown()
		return fmt.Errorf("watching CustomResourceDefinitions: cache did not sync: %w", context.Cause(ctx))
	}
	go func() {
		<-ctx.Done()
		factory.Shutdown()
	}()
	return nil
}

func slimCRD(obj any) (any, error) {
	crd, ok := obj.(*extv1.CustomResourceDefinition)
	if !ok {
		return obj, nil
	}
	return &extv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{
			Name:            crd.Name,
			UID:             crd.UID,
			ResourceVersion: crd.ResourceVersion,
			Generation:      crd.Generation,
		},
		Spec: extv1.CustomResourceDefinitionSpec{
			Group: crd.Spec.Group,
			Names: extv1.CustomResourceDefinitionNames{Kind: crd.Spec.Names.Kind},
		},
	}, nil
}
