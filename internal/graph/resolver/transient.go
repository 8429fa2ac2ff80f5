package resolver

import (
	"errors"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/korvid/korvid/internal/graph"
)

// TransientError is a resolver failure that says nothing about the kind: the
// API server could not be asked (timeout, connection refused, 5xx, throttled).
// A compile that met one is retried, never reported as an invalid graph.
type TransientError struct {
	GVK schema.GroupVersionKind
	Err error
}

func (e *TransientError) Error() string {
	return fmt.Sprintf("resolving %s: %v", e.GVK, e.Err)
}

func (e *TransientError) Unwrap() error { return e.Err }

// IsTransient reports whether err is, or wraps, a TransientError.
func IsTransient(err error) bool {
	var t *TransientError
	return errors.As(err, &t)
}

// Recorder wraps a resolver for one compile and remembers the transient
// failures it saw. Compile turns every failed lookup into an "unknown kind"
// field error; the Recorder is how its caller tells a kind that is not
// served from an API server that did not answer.
type Recorder struct {
	next graph.SchemaResolver

	mu   sync.Mutex
	errs []error
}

// Record returns a Recorder delegating to next.
func Record(next graph.SchemaResolver) *Recorder { return &Recorder{next: next} }

// Resolve implements graph.SchemaResolver.
func (r *Recorder) Resolve(gvk schema.GroupVersionKind) (*graph.ResolvedKind, error) {
	k, err := r.next.Resolve(gvk)
	if err != nil && !errors.Is(err, graph.ErrKindNotFound) {
		r.mu.Lock()
		r.errs = append(r.errs, &TransientError{GVK: gvk, Err: err})
		r.mu.Unlock()
	}
	return k, err
}

// Err returns the transient failures seen so far (each a *TransientError),
// or nil.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.errs...)
}
