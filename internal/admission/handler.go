package admission

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// DefaultHandlerTimeout bounds the time of one admission request. The
// webhook configurations time out after 10 seconds; answering before that
// turns a slow dependency into a clear denial instead of an apiserver timeout.
const DefaultHandlerTimeout = 7 * time.Second

// errTimeout is returned when a check does not finish within the handler's time.
var errTimeout = errors.New("admission check did not finish in time")

// guard wraps a handler: it bounds its time with a context deadline and
// records latency by kind, operation and outcome. A panic is left to
// controller-runtime's admission.Webhook (RecoverPanic, on by default), which
// answers it with a 500 error; it is recorded here with the outcome "error".
func guard(m *Metrics, kind string, timeout time.Duration, h admission.Handler) admission.Handler {
	return admission.HandlerFunc(func(ctx context.Context, req admission.Request) (resp admission.Response) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		returned := false
		if m != nil {
			defer func() {
				k, out := kind, "error"
				if k == "" {
					k = req.Kind.Kind
				}
				if returned {
					out = outcome(resp)
				}
				m.Latency.WithLabelValues(k, string(req.Operation), out).Observe(time.Since(start).Seconds())
			}()
		}
		resp = h.Handle(ctx, req)
		returned = true
		return resp
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
