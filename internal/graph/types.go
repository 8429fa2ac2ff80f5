package graph

import (
	"context"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Options tune compilation and evaluation. The webhook and the controller
// must compile with the same Options.
type Options struct {
	// MaxExpressionCost, when positive, is the largest estimated cost one
	// expression may have; costlier expressions are refused. Zero (the
	// default, as in kro) refuses none: RuntimeCostLimit and the caller's
	// context bound every evaluation, and expressions whose estimate is
	// above RuntimeCostLimit are listed in Graph.Costly.
	MaxExpressionCost uint64
	// RuntimeCostLimit bounds the actual cost of one evaluation.
	RuntimeCostLimit uint64
	// MaxCollectionSize bounds the number of objects one forEach node expands to.
	MaxCollectionSize int
}

// DefaultOptions returns the options both binaries use unless told otherwise.
func DefaultOptions() Options {
	return Options{
		// kro refuses no expression for its estimated cost.
		MaxExpressionCost: 0,
		// Kubernetes' own per-call limit for CRD validation rules.
		RuntimeCostLimit:  1_000_000,
		MaxCollectionSize: 1000,
	}
}

// CostlyExpression is an expression that may reach the runtime cost limit.
type CostlyExpression struct {
	Path          string
	Expression    string
	EstimatedCost uint64
}

// InstanceKind names the generated kind.
type InstanceKind struct {
	GVK        schema.GroupVersionKind
	Resource   string // plural
	Namespaced bool
}

// GVR returns the group, version and resource of the generated kind.
func (k InstanceKind) GVR() schema.GroupVersionResource {
	return k.GVK.GroupVersion().WithResource(k.Resource)
}

// Graph is a compiled ResourceGraphDefinition. It is immutable and safe for
// concurrent use.
type Graph struct {
	// RGDName, RGDUID and Generation identify the RGD this graph was compiled from.
	RGDName    string
	RGDUID     types.UID
	Generation int64

	// Instance is the generated kind.
	Instance InstanceKind
	// CRD is the generated CustomResourceDefinition, labelled as owned by the RGD.
	CRD *extv1.CustomResourceDefinition

	// Nodes in declaration order.
	Nodes []*Node
	// TopologicalOrder lists node ids in creation order (ties broken by declaration order).
	TopologicalOrder []string
	// UsesClock reports that an expression of the graph calls time.now():
	// what the graph renders, includes or finds ready can change with time
	// alone, so the controller evaluates its instances again periodically.
	UsesClock bool
	// Costly lists the expressions whose estimated cost, over the largest
	// values their variables' schemas allow, is above the runtime cost
	// limit: an evaluation over such values stops at the limit and fails.
	// Each source is listed once, at its first path.
	Costly []CostlyExpression

	byID   map[string]*Node
	status *statusProgram
	// reads are the fields of each resource's object the expressions read.
	reads map[string]*fieldReads
}

// Node returns the node with the given id, or nil.
func (g *Graph) Node(id string) *Node { return g.byID[id] }

// Node is one compiled resource of the graph.
type Node struct {
	ID    string
	Index int // position in spec.resources

	GVK        schema.GroupVersionKind
	Resource   string // plural
	Namespaced bool
	// Schema is the target kind's OpenAPI schema (refs resolved).
	Schema *spec.Schema

	// External is true for externalRef nodes: read, never written.
	External bool
	// Collection is true for forEach nodes; the observed value is a list.
	// A selector externalRef is also a collection.
	Collection bool
	// Dependencies are the ids this node references, in declaration order.
	Dependencies []string

	prog *nodeProgram
}

// GVR returns the group, version and resource of the node's kind.
func (n *Node) GVR() schema.GroupVersionResource {
	return n.GVK.GroupVersion().WithResource(n.Resource)
}

// Scope is the data one evaluation sees.
type Scope struct {
	// Instance is the instance object (unstructured content). Expressions see
	// its apiVersion, kind, metadata and spec as `schema`.
	Instance map[string]any
	// Observed maps node ids to what exists in the cluster: an object
	// (map[string]any) for single nodes, a []any of objects for collections
	// and selector externalRefs. A missing id means "does not exist yet".
	Observed map[string]any
	// NoClock makes expressions that call time.now() pending (waiting for
	// "time.now()") instead of evaluating them: the admission webhook checks
	// what the instance spec alone determines, and a value that depends on
	// when it is computed is not decided at admission.
	NoClock bool
}

// RenderOptions change how Render treats unresolved expressions.
type RenderOptions struct {
	// SkipPending drops fields whose expressions are pending instead of
	// failing the render; the instance webhook uses it to check what the
	// instance spec alone determines.
	SkipPending bool
	// Pending, when not nil, also drops fields whose expressions are
	// pending, and collects their errors (*PendingError) so a caller can
	// say what the dropped fields wait for. A collection whose forEach is
	// pending renders to no object and one error.
	Pending *[]error
}

// ExternalTarget is the rendered reference of an externalRef node.
type ExternalTarget struct {
	GVK       schema.GroupVersionKind
	Namespace string
	// Name is set for a reference by name.
	Name string
	// Selector is set for a reference by label selector.
	Selector labels.Selector
}

// Every evaluation takes a context: CEL programs check it while they run
// (comprehensions every few iterations, and before each expression), so a
// cancelled context or a passed deadline stops the evaluation with an error
// wrapping ErrInterrupted and the context's error. The runtime cost limit
// applies as well.

// Included evaluates the node's includeWhen expressions (ANDed). It returns
// true when there are none. A pending error means an input is not there yet.
func (n *Node) Included(ctx context.Context, s Scope) (bool, error) {
	return n.prog.included(ctx, n, s)
}

// Render evaluates the node's template. A single node yields one object; a
// collection yields one object per element of the cartesian product of its
// iterators, the first iterator outermost. Fields whose value is omit() are
// dropped. The namespace of a namespaced object defaults to the instance's.
func (n *Node) Render(ctx context.Context, s Scope, o RenderOptions) ([]*unstructured.Unstructured, error) {
	return n.prog.render(ctx, n, s, o)
}

// ResolveExternal renders an externalRef node's reference.
func (n *Node) ResolveExternal(ctx context.Context, s Scope) (*ExternalTarget, error) {
	return n.prog.external(ctx, n, s)
}

// Ready evaluates the node's readyWhen expressions against its observed
// object (for a collection: every item, each as `each`). Without readyWhen
// a node is ready once it exists; an empty collection is ready.
func (n *Node) Ready(ctx context.Context, s Scope) (bool, error) { return n.prog.ready(ctx, n, s) }

// ProjectStatus evaluates schema.status. It returns the fields that could be
// evaluated, and the pending errors of those that could not yet; a non-pending
// failure is returned as err.
func (g *Graph) ProjectStatus(ctx context.Context, s Scope) (status map[string]any, pending []error, err error) {
	return g.status.project(ctx, g, s)
}
