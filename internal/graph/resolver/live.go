package resolver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextv1client "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset/typed/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	celresolver "k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/korvid/korvid/internal/graph"
)

// DefaultMissTTL is how long Live remembers that a kind is not served.
const DefaultMissTTL = 5 * time.Second

// DefaultDocumentTTL is how long Live keeps the discovery and OpenAPI
// documents of a group/version after fetching them. The kinds resolved from
// them stay cached; the documents themselves (core/v1's schemas alone are
// several megabytes once parsed) only save a fetch when another kind of the
// same group/version is resolved soon after, as when one RGD uses several.
const DefaultDocumentTTL = time.Minute

// DefaultSettleTime is how long after a CustomResourceDefinition changes its
// kinds are resolved without caching: the API server publishes discovery and
// OpenAPI for a change asynchronously, and an answer fetched in between may be
// stale.
const DefaultSettleTime = 10 * time.Second

// Live resolves kinds through an API server's discovery and OpenAPI v3
// documents. Resolved kinds are cached until invalidated; a kind that is not
// served is remembered for a short while (MissTTL) or until invalidated, so
// repeated misses do not hit the API server. It is safe for concurrent use.
type Live struct {
	disc       discovery.DiscoveryInterface
	missTTL    time.Duration
	settleTime time.Duration
	now        func() time.Time

	mu     sync.RWMutex
	kinds  map[schema.GroupVersionKind]*graph.ResolvedKind
	misses map[schema.GroupVersionKind]miss
	docs   map[schema.GroupVersion]*gvDoc
	// docTTL is how long a fetched document is kept in docs.
	docTTL time.Duration
	// epoch counts invalidations: a fetch that raced with one is not cached.
	epoch uint64
	// crdServed holds the kinds the watched CRDs serve, with the name of
	// the CRD: a miss for one of them means the API server has not
	// published it yet, and is not remembered.
	crdServed map[schema.GroupVersionKind]string
	// getCRD reads a CRD whose kind the API server has not published yet
	// (nil: no fallback).
	getCRD CRDGetter
	// changed records when the CRD of a group/kind last changed.
	changed map[schema.GroupKind]time.Time

	// fetchMu guards fetching, which holds one lock per group/version: a
	// concurrent miss for the same group/version waits for the first fetch
	// and uses its result, one for another group/version does not wait.
	fetchMu  sync.Mutex
	fetching map[schema.GroupVersion]*sync.Mutex
	// fetchTimeout bounds one group/version's round trips.
	fetchTimeout time.Duration
}

// DefaultFetchTimeout bounds fetching the discovery and OpenAPI documents of
// one group/version.
const DefaultFetchTimeout = 5 * time.Second

// WithFetchTimeout sets how long fetching one group/version's documents may take.
func WithFetchTimeout(d time.Duration) LiveOption { return func(l *Live) { l.fetchTimeout = d } }

// gvLock returns the fetch lock of a group/version.
func (l *Live) gvLock(gv schema.GroupVersion) *sync.Mutex {
	l.fetchMu.Lock()
	defer l.fetchMu.Unlock()
	m, ok := l.fetching[gv]
	if !ok {
		m = &sync.Mutex{}
		l.fetching[gv] = m
	}
	return m
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

// WithDocumentTTL sets how long the documents of a group/version are kept
// after they were fetched (DefaultDocumentTTL by default); zero or less
// keeps them until invalidated.
func WithDocumentTTL(d time.Duration) LiveOption { return func(l *Live) { l.docTTL = d } }

// WithSettleTime sets how long after a CRD event its kinds are not cached
// (DefaultSettleTime by default).
func WithSettleTime(d time.Duration) LiveOption { return func(l *Live) { l.settleTime = d } }

// CRDGetter reads one CustomResourceDefinition, by name, from the API server.
type CRDGetter func(ctx context.Context, name string) (*extv1.CustomResourceDefinition, error)

// CRDsFrom returns a CRDGetter asking the API server through c (the CRD
// informer of both binaries keeps no schemas).
func CRDsFrom(c apiextv1client.CustomResourceDefinitionsGetter) CRDGetter {
	return func(ctx context.Context, name string) (*extv1.CustomResourceDefinition, error) {
		return c.CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
	}
}

// WithCRDGetter makes Live resolve a kind that a watched CRD serves but that
// discovery or OpenAPI v3 does not show yet from the CRD itself, once the CRD
// is Established: the API server reports a CRD Established before it
// publishes the kind's OpenAPI v3 schema (and sometimes its discovery), so
// an RGD applied right after `kubectl wait --for=condition=Established`
// would otherwise find the kind unknown. The schema is the one the API
// server publishes for the CRD (see crdKinds).
func WithCRDGetter(get CRDGetter) LiveOption { return func(l *Live) { l.getCRD = get } }

// ForServer returns the live resolver both binaries run against the API
// server of cfg, with its discovery client (for their other uses): a kind
// whose CRD is Established before the API server publishes it resolves from
// the CRD (WithCRDGetter).
func ForServer(cfg *rest.Config) (*Live, *discovery.DiscoveryClient, error) {
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("building the discovery client: %w", err)
	}
	crds, err := apiextv1client.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("building the CustomResourceDefinition client: %w", err)
	}
	return NewLive(disc, WithCRDGetter(CRDsFrom(crds))), disc, nil
}

// NewLive returns a resolver asking the API server behind d. d should not cache
// by itself (or be a discovery.CachedDiscoveryInterface, which is invalidated
// along with the resolver).
func NewLive(d discovery.DiscoveryInterface, opts ...LiveOption) *Live {
	l := &Live{
		disc:       d,
		missTTL:    DefaultMissTTL,
		settleTime: DefaultSettleTime,
		now:        time.Now,
		kinds:      map[schema.GroupVersionKind]*graph.ResolvedKind{},
		misses:     map[schema.GroupVersionKind]miss{},
		docs:       map[schema.GroupVersion]*gvDoc{},
		docTTL:     DefaultDocumentTTL,
		crdServed:  map[schema.GroupVersionKind]string{},
		changed:    map[schema.GroupKind]time.Time{},

		fetching:     map[schema.GroupVersion]*sync.Mutex{},
		fetchTimeout: DefaultFetchTimeout,
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Resolve implements graph.SchemaResolver.
func (l *Live) Resolve(gvk schema.GroupVersionKind) (*graph.ResolvedKind, error) {
	if gvk.Kind == "" || gvk.Version == "" {
		return nil, fmt.Errorf("kind %q of apiVersion %q: both a kind and a version are needed: %w", gvk.Kind, gvk.GroupVersion().String(), graph.ErrKindNotFound)
	}
	if k, ok, err := l.cached(gvk); ok {
		return k, err
	}
	gvMu := l.gvLock(gvk.GroupVersion())
	gvMu.Lock()
	defer gvMu.Unlock()
	if k, ok, err := l.cached(gvk); ok {
		return k, err
	}

	l.mu.RLock()
	epoch := l.epoch
	doc := l.docs[gvk.GroupVersion()]
	l.mu.RUnlock()

	var err error
	if doc == nil {
		doc, err = l.fetch(gvk.GroupVersion())
	}
	var k *graph.ResolvedKind
	if err == nil {
		k, err = resolveFromDoc(doc, gvk)
	}
	if err != nil && !errors.Is(err, graph.ErrKindNotFound) {
		return nil, err // transient: neither cached nor remembered
	}
	if err != nil {
		if fk := l.fromCRD(gvk); fk != nil {
			// Not cached: the API server's own answer replaces it once
			// published (the CRD's events invalidate the group).
			return fk, nil
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.epoch != epoch || l.unsettled(gvk.GroupKind()) {
		return k, err // the answer may be stale: do not keep it
	}
	if doc != nil && l.docs[gvk.GroupVersion()] != doc {
		l.keepDocument(gvk.GroupVersion(), doc)
	}
	if err != nil {
		if _, served := l.crdServed[gvk]; l.missTTL > 0 && !served {
			l.misses[gvk] = miss{err: err, until: l.now().Add(l.missTTL)}
		}
		return nil, err
	}
	l.kinds[gvk] = k
	return k, nil
}

// keepDocument holds doc as gv's documents for docTTL; callers hold l.mu.
func (l *Live) keepDocument(gv schema.GroupVersion, doc *gvDoc) {
	l.docs[gv] = doc
	if l.docTTL <= 0 {
		return
	}
	time.AfterFunc(l.docTTL, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.docs[gv] == doc {
			delete(l.docs, gv)
		}
	})
}

// Documents reports how many group/versions' documents the resolver holds.
func (l *Live) Documents() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.docs)
}

// fetch fetches the documents of gv within fetchTimeout. Discovery takes no
// context: a call that outlives the timeout is abandoned (it ends with the
// client's own timeouts) and its result dropped.
func (l *Live) fetch(gv schema.GroupVersion) (*gvDoc, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.fetchTimeout)
	defer cancel()
	type result struct {
		doc *gvDoc
		err error
	}
	done := make(chan result, 1)
	go func() {
		doc, err := fetchGV(ctx, l.disc, gv, nil)
		done <- result{doc, err}
	}()
	select {
	case r := <-done:
		return r.doc, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("fetching the documents of %q: %w", gv, ctx.Err())
	}
}

// fromCRD resolves gvk from the Established CRD that serves it, or returns
// nil (no such CRD known, not Established yet, or it could not be read).
func (l *Live) fromCRD(gvk schema.GroupVersionKind) *graph.ResolvedKind {
	l.mu.RLock()
	name, ok := l.crdServed[gvk]
	l.mu.RUnlock()
	if !ok || l.getCRD == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.fetchTimeout)
	defer cancel()
	crd, err := l.getCRD(ctx, name)
	if err != nil || !apihelpers.IsCRDConditionTrue(crd, extv1.Established) {
		return nil
	}
	kinds, err := crdKinds(crd)
	if err != nil {
		return nil
	}
	for _, k := range kinds {
		if k.GVK == gvk {
			return k
		}
	}
	return nil
}

// unsettled reports whether a CRD of gk changed too recently for the API
// server's answer to be trusted; callers hold l.mu.
func (l *Live) unsettled(gk schema.GroupKind) bool {
	at, ok := l.changed[gk]
	if !ok {
		return false
	}
	if l.now().Sub(at) < l.settleTime {
		return true
	}
	delete(l.changed, gk)
	return false
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
// group and kind of every CustomResourceDefinition added, changed or deleted,
// and keeps track of the kinds CRDs serve. Both binaries add it to their
// manager's CustomResourceDefinition informer (one per binary). After a
// change, the changed kinds are not cached for the settle time, so what the
// API server publishes late is still picked up.
func (l *Live) CRDEventHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { l.crdChanged(nil, asCRD(obj)) },
		UpdateFunc: func(oldObj, newObj any) {
			l.crdChanged(asCRD(oldObj), asCRD(newObj))
		},
		DeleteFunc: func(obj any) { l.crdChanged(asCRD(obj), nil) },
	}
}

func asCRD(obj any) *extv1.CustomResourceDefinition {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	crd, _ := obj.(*extv1.CustomResourceDefinition)
	return crd
}

// crdChanged records that a CRD went from oldCRD to newCRD (either nil).
func (l *Live) crdChanged(oldCRD, newCRD *extv1.CustomResourceDefinition) {
	var gks []schema.GroupKind
	l.mu.Lock()
	now := l.now()
	if oldCRD != nil {
		gk := schema.GroupKind{Group: oldCRD.Spec.Group, Kind: oldCRD.Spec.Names.Kind}
		for _, v := range oldCRD.Spec.Versions {
			delete(l.crdServed, gk.WithVersion(v.Name))
		}
		l.changed[gk] = now
		gks = append(gks, gk)
	}
	if newCRD != nil {
		gk := schema.GroupKind{Group: newCRD.Spec.Group, Kind: newCRD.Spec.Names.Kind}
		for _, v := range newCRD.Spec.Versions {
			if v.Served {
				l.crdServed[gk.WithVersion(v.Name)] = newCRD.Name
			}
		}
		l.changed[gk] = now
		gks = append(gks, gk)
	}
	l.mu.Unlock()
	for _, gk := range gks {
		l.Invalidate(gk)
	}
}

// SlimCRD is an informer transform that keeps of a CustomResourceDefinition
// what CRDEventHandler and label-based event mapping read: name, labels,
// group, kind and served versions, not whole schemas.
func SlimCRD(obj any) (any, error) {
	crd, ok := obj.(*extv1.CustomResourceDefinition)
	if !ok {
		return obj, nil
	}
	versions := make([]extv1.CustomResourceDefinitionVersion, len(crd.Spec.Versions))
	for i, v := range crd.Spec.Versions {
		versions[i] = extv1.CustomResourceDefinitionVersion{Name: v.Name, Served: v.Served}
	}
	return &extv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{
			Name:            crd.Name,
			Labels:          crd.Labels,
			UID:             crd.UID,
			ResourceVersion: crd.ResourceVersion,
			Generation:      crd.Generation,
		},
		Spec: extv1.CustomResourceDefinitionSpec{
			Group:    crd.Spec.Group,
			Names:    extv1.CustomResourceDefinitionNames{Kind: crd.Spec.Names.Kind},
			Versions: versions,
		},
	}, nil
}
