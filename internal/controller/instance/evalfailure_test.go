package instance

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/korvid/korvid/internal/graph"
)

// An evaluation stopped by the reconcile's context is retried, and still
// counts as a failure so the pass prunes nothing.
func TestInterruptedEvaluationIsTransient(t *testing.T) {
	p := &pass{}
	err := fmt.Errorf("spec.x: evaluating %q: %w: %w", "a.all(x, true)", graph.ErrInterrupted, context.Canceled)
	p.evalFailure("db", err)
	assert.True(t, p.transient, "requeued")
	assert.Len(t, p.failures, 1, "a failure: nothing is pruned")
	assert.True(t, errors.Is(p.transientErr(), graph.ErrInterrupted))

	q := &pass{}
	q.evalFailure("db", &graph.EvalError{Site: graph.Site{Path: "spec.x", Expression: "1/0"}, Err: errors.New("division by zero")})
	assert.False(t, q.transient, "the expression's own failure waits for a change")
	assert.Len(t, q.failures, 1)
}
