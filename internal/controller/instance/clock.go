package instance

import (
	"context"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/korvid/korvid/api/v1alpha1"
)

// clockRecheck is how soon an instance whose graph reads the wall clock
// (time.now() in an includeWhen, readyWhen, template or status expression)
// is evaluated again when no event arrives: the passing of time changes
// what such a graph renders, includes or finds ready, and nothing watches
// it.
const clockRecheck = 30 * time.Second

// recheck is clockRecheck, or what a test set with SetClockRecheck.
var recheck atomic.Int64

func init() { recheck.Store(int64(clockRecheck)) }

// SetClockRecheck changes how soon instances of clock-reading graphs are
// evaluated again, and returns a function restoring it. For tests.
func SetClockRecheck(d time.Duration) (restore func()) {
	old := recheck.Swap(int64(d))
	return func() { recheck.Store(old) }
}

// clockAware requeues the instances of graphs that read the clock after a
// reconcile that had nothing else to come back for.
type clockAware struct {
	*reconciler
}

func (r clockAware) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	res, err := r.reconciler.Reconcile(ctx, req)
	if err != nil || !res.IsZero() || ctx.Err() != nil {
		return res, err
	}
	if g := r.k.graph.Load(); g == nil || !g.UsesClock || r.k.blocked.Load() != nil {
		return res, nil
	}
	inst := &unstructured.Unstructured{}
	inst.SetGroupVersionKind(r.k.gvk)
	if r.c.mgr.GetCache().Get(ctx, req.NamespacedName, inst) != nil ||
		!inst.GetDeletionTimestamp().IsZero() ||
		v1alpha1.IsReconcileSuspended(inst.GetAnnotations()[v1alpha1.AnnotationReconcile]) {
		return res, nil
	}
	return reconcile.Result{RequeueAfter: time.Duration(recheck.Load())}, nil
}
