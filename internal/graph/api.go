package graph

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// ResolvedKind is what a SchemaResolver knows about one kind.
type ResolvedKind struct {
	// GVK is the kind that was asked for.
	GVK schema.GroupVersionKind
	// Resource is the plural resource name the kind is served under.
	Resource string
	// Namespaced reports whether objects of the kind live in a namespace.
	Namespaced bool
	// Schema is the kind's OpenAPI v3 schema with every $ref resolved.
	Schema *spec.Schema
}

// GVR returns the group, version and resource of the kind.
func (k *ResolvedKind) GVR() schema.GroupVersionResource {
	return k.GVK.GroupVersion().WithResource(k.Resource)
}

// SchemaResolver looks up the schema and scope of a kind. Implementations
// live in internal/graph/resolver: a static one (built-in kinds and CRD files)
// and a live one (API server discovery, cached).
type SchemaResolver interface {
	// Resolve returns the kind, or an error wrapping ErrKindNotFound when the
	// kind is not served.
	Resolve(gvk schema.GroupVersionKind) (*ResolvedKind, error)
}

// ErrKindNotFound is wrapped by resolvers when a kind is not served.
var ErrKindNotFound = errors.New("kind not found")

// ErrPending is wrapped by evaluation errors whose inputs are not resolvable
// yet: an upstream object that does not exist, or a field it has not set.
// Callers wait (and requeue on watch events) instead of reporting a failure.
var ErrPending = errors.New("not yet resolvable")

// ErrInterrupted is wrapped by the error of an evaluation stopped because
// its context was cancelled or its deadline passed; the error wraps the
// context's error too (context.Canceled, context.DeadlineExceeded). It is
// neither pending nor an EvalError: the inputs may be fine, there was not
// enough time, so callers retry rather than report the expression.
var ErrInterrupted = errors.New("evaluation interrupted")

// Site is where an evaluated expression sits.
type Site struct {
	// NodeID is the node being evaluated ("" for instance status).
	NodeID string
	// Path is the field the expression sits at, e.g. spec.resources[1].template.spec.replicas.
	Path string
	// Expression is the CEL source.
	Expression string
}

// PendingError says which input an evaluation waits for.
type PendingError struct {
	Site
	// Waiting names what is missing: a resource id, or a field such as deployment.status.availableReplicas.
	Waiting string
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("%s: waiting for %s (expression %q)", e.Path, e.Waiting, e.Expression)
}

// Is makes errors.Is(err, ErrPending) true.
func (e *PendingError) Is(target error) bool { return target == ErrPending }

// EvalError is an expression that failed for a reason waiting will not fix.
type EvalError struct {
	Site
	Err error
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("%s: evaluating %q: %v", e.Path, e.Expression, e.Err)
}

func (e *EvalError) Unwrap() error { return e.Err }
