// Package registry holds the compiled graphs of the RGDs the webhook serves:
// it compiles and caches them by RGD UID and generation, and finds the RGD
// that generates an instance kind.
package registry

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/resolver"
	"github.com/prometheus/client_golang/prometheus"
)

// KindIndex is the cache index of RGDs by the group/version/kind they
// generate; IndexByKind is its indexer function.
const KindIndex = "korvid.kro.run/instance-kind"

func kindKey(gvk schema.GroupVersionKind) string {
	return gvk.Group + "/" + gvk.Version + "/" + gvk.Kind
}

// IndexByKind is the field indexer function for KindIndex.
func IndexByKind(obj client.Object) []string {
	rgd, ok := obj.(*v1alpha1.ResourceGraphDefinition)
	if !ok {
		return nil
	}
	gvk, ok := rgd.InstanceGVK()
	if !ok {
		return nil
	}
	return []string{kindKey(gvk)}
}

// Compiled is an RGD's compiled graph with what instance admission needs
// besides it. It is immutable and shared.
type Compiled struct {
	Graph *graph.Graph
	// RGD is the object the graph was compiled from; read-only.
	RGD *v1alpha1.ResourceGraphDefinition
	// templates are the decoded templates by position in spec.resources
	// (nil for externalRefs), for tracing a rendered field to its expression.
	templates []map[string]any

	// validators validate rendered objects, by node position; see Validators.
	validatorsOnce sync.Once
	validators     []*validate.SchemaValidator
}

// Validators returns the validators of rendered objects by node position,
// built by build on first use and kept with the compiled graph.
func (c *Compiled) Validators(build func(*Compiled) []*validate.SchemaValidator) []*validate.SchemaValidator {
	c.validatorsOnce.Do(func() { c.validators = build(c) })
	return c.validators
}

// newCompiled builds a Compiled; the validators are built on first use.
func newCompiled(g *graph.Graph, rgd *v1alpha1.ResourceGraphDefinition) *Compiled {
	return &Compiled{Graph: g, RGD: rgd, templates: decodeTemplates(rgd)}
}

// Registry caches compiled graphs by RGD UID and generation and finds the
// RGD that generates a kind. It is safe for concurrent use.
type Registry struct {
	resolver graph.SchemaResolver
	opts     graph.Options
	rgds     client.Reader
	cache    *prometheus.CounterVec

	mu    sync.RWMutex
	byUID map[types.UID]*Compiled
}

// New returns an empty registry. rgds reads RGDs (the manager's cache, with
// the kind index registered); it may be nil when only Compile is used.
// cache, when not nil, counts lookups by result (hit, miss).
func New(resolver graph.SchemaResolver, opts graph.Options, rgds client.Reader, cache *prometheus.CounterVec) *Registry {
	return &Registry{resolver: resolver, opts: opts, rgds: rgds, cache: cache, byUID: map[types.UID]*Compiled{}}
}

// Compile compiles rgd without consulting or filling the cache: RGD
// admission compiles every version it is shown (the resolver may know kinds
// it did not know before), and a version that is denied must not replace the
// cached graph of the stored one.
//
// When a kind could not be resolved because the API server did not answer,
// the graph is neither valid nor invalid: the list then holds one internal
// error carrying the *resolver.TransientError, which TransientIn finds;
// callers answer it with a retryable server error, never Invalid.
func (r *Registry) Compile(rgd *v1alpha1.ResourceGraphDefinition) (*Compiled, field.ErrorList) {
	rec := resolver.Record(r.resolver)
	g, errs := graph.Compile(rgd, rec, r.opts)
	if err := rec.Err(); err != nil {
		return nil, field.ErrorList{{Type: field.ErrorTypeInternal, Field: "spec", BadValue: err,
			Detail: fmt.Sprintf("the API server could not be asked about the kinds this ResourceGraphDefinition uses; retry: %v", err)}}
	}
	if len(errs) > 0 || g == nil {
		if len(errs) == 0 {
			errs = field.ErrorList{field.InternalError(field.NewPath("spec"), fmt.Errorf("the compiler returned no graph and no error"))}
		}
		return nil, errs
	}
	return newCompiled(g, rgd), nil
}

// TransientIn returns the transient failure a compile met (the errors of
// Compile or Get), or nil when its errors are about the RGD itself.
func TransientIn(errs field.ErrorList) error {
	for _, e := range errs {
		if err, ok := e.BadValue.(error); ok && e.Type == field.ErrorTypeInternal && resolver.IsTransient(err) {
			return err
		}
	}
	return nil
}

// Get returns the compiled graph of rgd from the cache, compiling on a miss.
func (r *Registry) Get(rgd *v1alpha1.ResourceGraphDefinition) (*Compiled, field.ErrorList) {
	if c := r.Cached(rgd); c != nil {
		return c, nil
	}
	r.count("miss")
	c, errs := r.Compile(rgd)
	if c != nil && rgd.UID != "" {
		r.mu.Lock()
		if cur := r.byUID[rgd.UID]; cur == nil || cur.RGD.Generation <= rgd.Generation {
			r.byUID[rgd.UID] = c
		}
		r.mu.Unlock()
	}
	return c, errs
}

// Cached returns the graph of rgd's generation when it is compiled already,
// and nil when Get would have to compile it.
func (r *Registry) Cached(rgd *v1alpha1.ResourceGraphDefinition) *Compiled {
	if rgd.UID == "" {
		return nil
	}
	r.mu.RLock()
	c := r.byUID[rgd.UID]
	r.mu.RUnlock()
	if c == nil || c.RGD.Generation != rgd.Generation {
		return nil
	}
	r.count("hit")
	return c
}

func (r *Registry) count(result string) {
	if r.cache != nil {
		r.cache.WithLabelValues(result).Inc()
	}
}

// Invalidate drops every cached graph; schemas of the kinds they template may
// have changed.
func (r *Registry) Invalidate() {
	r.mu.Lock()
	clear(r.byUID)
	r.mu.Unlock()
}

// Retain drops the graphs of RGDs that no longer exist.
func (r *Registry) Retain(live map[types.UID]bool) {
	r.mu.Lock()
	for uid := range r.byUID {
		if !live[uid] {
			delete(r.byUID, uid)
		}
	}
	r.mu.Unlock()
}

// ForKind returns the RGD that generates gvk, or nil when none does. When
// several claim it (admission denies that, but it can slip through a race),
// the oldest wins, as it does in the controller.
func (r *Registry) ForKind(ctx context.Context, gvk schema.GroupVersionKind) (*v1alpha1.ResourceGraphDefinition, error) {
	if r.rgds == nil {
		return nil, fmt.Errorf("no RGD reader configured")
	}
	var list v1alpha1.ResourceGraphDefinitionList
	err := r.rgds.List(ctx, &list, client.MatchingFields{KindIndex: kindKey(gvk)}, client.UnsafeDisableDeepCopy)
	if err != nil {
		// Readers without the index (uncached clients) list everything.
		list = v1alpha1.ResourceGraphDefinitionList{}
		if err2 := r.rgds.List(ctx, &list); err2 != nil {
			return nil, fmt.Errorf("listing ResourceGraphDefinitions: %w", err)
		}
	}
	var found *v1alpha1.ResourceGraphDefinition
	for i := range list.Items {
		rgd := &list.Items[i]
		if k, ok := rgd.InstanceGVK(); !ok || k != gvk || rgd.DeletionTimestamp != nil {
			continue
		}
		if found == nil || rgd.CreationTimestamp.Before(&found.CreationTimestamp) ||
			rgd.CreationTimestamp.Equal(&found.CreationTimestamp) && rgd.Name < found.Name {
			found = rgd
		}
	}
	return found, nil
}

// decodeTemplates decodes the RGD's templates once, as the renderer sees
// their literals (integers as int64); nil where a template is missing or
// does not decode.
func decodeTemplates(rgd *v1alpha1.ResourceGraphDefinition) []map[string]any {
	out := make([]map[string]any, len(rgd.Spec.Resources))
	for i, res := range rgd.Spec.Resources {
		if res == nil || len(res.Template.Raw) == 0 {
			continue
		}
		var m map[string]any
		if utiljson.Unmarshal(res.Template.Raw, &m) == nil {
			out[i] = m
		}
	}
	return out
}

// Template returns the decoded template at index in spec.resources, or nil.
func (c *Compiled) Template(index int) map[string]any {
	if index < 0 || index >= len(c.templates) {
		return nil
	}
	return c.templates[index]
}
