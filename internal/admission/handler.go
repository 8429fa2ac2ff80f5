package admission

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// DefaultHandlerTimeout bounds the time of one admission request. The
// webhook configurations time out after 10 seconds; answering before that
// turns a slow dependency into a clear denial instead of an apiserver timeout.
const DefaultHandlerTimeout = 7 * time.Second

// errTimeout is returned when a check does not finish within the handler's time.
var errTimeout = errors.New("admission check did not finish in time")

// guard wraps a handler: it bounds its time with a context deadline, turns a
// panic into a denial with an internal error, and records latency by kind,
// operation and outcome.
func guard(m *Metrics, kind string, timeout time.Duration, h admission.Handler) admission.Handler {
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) (resp admission.Response) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		defer func() {
			if r := recover(); r != nil {
				log.FromContext(ctx).Error(fmt.Errorf("%v", r), "Admission handler panicked", "kind", kind, "name", req.Name, "operation", req.Operation)
				resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("internal error while checking %s %q; please report it: %v", kind, req.Name, r))
			}
			if m != nil {
				k := kind
				if k == "" {
					k = req.Kind.Kind
				}
				m.Latency.WithLabelValues(k, string(req.Operation), outcome(resp)).Observe(time.Since(start).Seconds())
			}
		}()
		return h.Handle(ctx, req)
	})
}

func outcome(r admission.Response) string {
	switch {
	case r.Allowed:
		return "allowed"
	case r.Result != nil && r.Result.Code >= 500:
		return "error"
	default:
		return "denied"
	}
}

// bounded runs f and returns its result, or errTimeout when ctx ends first.
// f keeps running in the background; it must itself be bounded (the compiler
// is: CEL costs and sizes are limited). A panic in f is returned as an error.
func bounded[T any](ctx context.Context, f func() T) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("internal error: %v", r)}
			}
		}()
		done <- result{v: f()}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("%w: %w", errTimeout, ctx.Err())
	}
}
