package instance

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/controller/metrics"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/ownership"
	"github.com/korvid/korvid/internal/version"
)

// reconciler reconciles the instances of one kind.
type reconciler struct {
	c *Controllers
	k *kindController
	// written holds the instances as this process last wrote them, until
	// the cache catches up; swept is when old entries were last dropped.
	written sync.Map
	swept   atomic.Value
}

// Reconcile brings the children of one instance in line with its graph.
func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (res reconcile.Result, err error) {
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = nil // the controller is stopping; the work is picked up again on start
		}
	}()
	g := r.k.graph.Load()
	inst := &unstructured.Unstructured{}
	inst.SetGroupVersionKind(r.k.gvk)
	if err := r.c.mgr.GetCache().Get(ctx, req.NamespacedName, inst); err != nil {
		if apierrors.IsNotFound(err) {
			r.k.externals.Delete(req)
		}
		r.written.Delete(req.NamespacedName)
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	inst = r.freshest(req, inst)
	if !inst.GetDeletionTimestamp().IsZero() {
		return r.finalize(ctx, g, inst)
	}
	if v1alpha1.IsReconcileSuspended(inst.GetAnnotations()[v1alpha1.AnnotationReconcile]) {
		log.FromContext(ctx).V(1).Info("reconciliation suspended")
		return reconcile.Result{}, r.writeSuspended(ctx, inst)
	}
	if b := r.k.blocked.Load(); b != nil {
		return reconcile.Result{}, r.writeBlocked(ctx, inst, b)
	}
	// Reads of a child kind whose informer has not synced would wait for
	// it: the instance waits in the queue instead of holding a worker.
	if pending, err := r.c.WatchProblems(g); err != nil {
		return reconcile.Result{}, err
	} else if pending {
		return reconcile.Result{RequeueAfter: watchPendingRecheck}, nil
	}
	id := ownership.InstanceOf(inst)

	// Instance metadata first: finalizer, labels, and the ApplySet
	// annotations widened to every kind this pass may write (KEP-3659: the
	// parent lists a superset before children are applied).
	if err := r.ensureMetadata(ctx, g, inst, id, nil); err != nil {
		return reconcile.Result{}, errors.Join(err, r.writeNotManaged(ctx, inst, err))
	}

	p := r.run(ctx, g, inst, id)
	if len(p.externals) > 0 {
		r.k.externals.Store(req, p.externals)
	} else {
		r.k.externals.Delete(req)
	}

	pruned := false
	if len(p.failures) == 0 && len(p.conflicts) == 0 {
		if err := r.prune(ctx, g, inst, id, p); err != nil {
			p.failures = append(p.failures, nodeMessage{"", fmt.Sprintf("pruning: %v", err)})
			p.transient = true
		} else {
			pruned = true
		}
	}
	if pruned {
		if err := r.ensureMetadata(ctx, g, inst, id, p); err != nil {
			return reconcile.Result{}, err
		}
	}
	if _, err := r.writeStatus(ctx, g, inst, p); err != nil {
		return reconcile.Result{}, err
	}
	if p.transient {
		return reconcile.Result{}, p.transientErr()
	}
	// Every child and external kind is watched: readiness changes, inputs
	// appearing and drift all arrive as events, so nothing is polled but
	// the clock: a graph that reads time.now() is evaluated again later.
	if g.UsesClock {
		return reconcile.Result{RequeueAfter: clockRecheckAfter()}, nil
	}
	return reconcile.Result{}, nil
}

// freshest returns the instance as this process last wrote it when the
// cache has not caught up with that write yet, so that a reconcile started
// by a child's event neither writes the same status or metadata again nor
// computes transition times from an older status.
func (r *reconciler) freshest(req reconcile.Request, inst *unstructured.Unstructured) *unstructured.Unstructured {
	v, ok := r.written.Load(req.NamespacedName)
	if !ok {
		return inst
	}
	w := v.(writtenInstance).obj
	if w.GetUID() == inst.GetUID() && olderRV(inst.GetResourceVersion(), w.GetResourceVersion()) {
		return w.DeepCopy()
	}
	r.written.Delete(req.NamespacedName)
	return inst
}

// writtenInstance is an instance as a write of this process returned it.
type writtenInstance struct {
	obj *unstructured.Unstructured
	at  time.Time
}

// writtenTTL is how long a written instance is kept for a cache that lags
// behind (it normally catches up within milliseconds).
const writtenTTL = 10 * time.Second

// wrote records the instance as a write of this process returned it, less
// its managedFields, and now and then drops the records the cache has long
// caught up with.
func (r *reconciler) wrote(inst *unstructured.Unstructured) {
	if inst.GetResourceVersion() == "" {
		return
	}
	// Nothing reads an instance's managedFields; the cache drops them too.
	inst.SetManagedFields(nil)
	now := time.Now()
	r.written.Store(types.NamespacedName{Namespace: inst.GetNamespace(), Name: inst.GetName()}, writtenInstance{inst.DeepCopy(), now})
	if last, _ := r.swept.Load().(time.Time); now.Sub(last) < writtenTTL {
		return
	}
	r.swept.Store(now)
	r.written.Range(func(k, v any) bool {
		if now.Sub(v.(writtenInstance).at) > writtenTTL {
			r.written.Delete(k)
		}
		return true
	})
	r.k.applied.sweep(now)
}

type nodeMessage struct {
	id, msg string
}

// pass is the outcome of walking the graph once for one instance.
type pass struct {
	scope graph.Scope
	// desired holds the keys of every object applied in this pass.
	desired sets.Set[objectKey]
	// applied nodes were rendered and applied; excluded nodes are skipped by
	// includeWhen (or a skipped dependency); pending nodes wait for an input.
	applied  sets.Set[string]
	excluded sets.Set[string]
	// unready nodes exist but their readyWhen does not hold yet.
	unready  sets.Set[string]
	pending  []nodeMessage
	notReady []nodeMessage
	// deleting nodes wait for a terminating object of theirs to be gone.
	deleting []nodeMessage
	failures []nodeMessage
	// conflicts are objects that belong to another instance.
	conflicts  []nodeMessage
	transient  bool
	errs       []error
	namespaces sets.Set[string]
	// externals are the external references resolved in this pass.
	externals []*graph.ExternalTarget
	// shared holds the object budget and the objects claimed by the nodes
	// of this pass.
	shared *shared
	// turn orders the nodes' claims of their objects.
	turn *turn
}

func (p *pass) transientErr() error {
	if len(p.errs) > 0 {
		return errors.Join(p.errs...)
	}
	return errors.New("transient failure")
}

type objectKey struct {
	gk        schema.GroupKind
	namespace string
	name      string
}

func keyOf(gvk schema.GroupVersionKind, ns, name string) objectKey {
	return objectKey{gk: gvk.GroupKind(), namespace: ns, name: name}
}

// unreadyDependency returns a dependency of n that exists but is not ready.
func (p *pass) unreadyDependency(n *graph.Node) string {
	for _, d := range n.Dependencies {
		if p.unready.Has(d) {
			return d
		}
	}
	return ""
}

func (p *pass) blocked(n *graph.Node) (excludedDep bool) {
	for _, d := range n.Dependencies {
		if p.excluded.Has(d) {
			return true
		}
	}
	return false
}

// nodeParallelism bounds the nodes of one instance that apply their
// objects at the same time.
const nodeParallelism = 4

// shared is the part of a pass every node of it updates: the object budget
// and the objects claimed so far (two resources of one instance rendering
// the same object is an error, and the second is not applied).
type shared struct {
	mu       sync.Mutex
	rendered int
	claimed  map[objectKey]string
	// applying bounds the nodes writing at the same time.
	applying chan struct{}
}

// claim records that node nid renders the object with key k; it returns the
// id of another node that rendered it first, or "".
func (s *shared) claim(k objectKey, nid string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.claimed[k]; ok {
		return other, false
	}
	s.claimed[k] = nid
	return "", true
}

func newPass(inst map[string]any, sh *shared) *pass {
	return &pass{
		scope:      graph.Scope{Instance: inst, Observed: map[string]any{}},
		desired:    sets.New[objectKey](),
		applied:    sets.New[string](),
		excluded:   sets.New[string](),
		unready:    sets.New[string](),
		namespaces: sets.New[string](),
		shared:     sh,
	}
}

// merge adds the outcome of one node to p.
func (p *pass) merge(q *pass) {
	p.desired = p.desired.Union(q.desired)
	p.applied = p.applied.Union(q.applied)
	p.excluded = p.excluded.Union(q.excluded)
	p.unready = p.unready.Union(q.unready)
	p.namespaces = p.namespaces.Union(q.namespaces)
	p.pending = append(p.pending, q.pending...)
	p.notReady = append(p.notReady, q.notReady...)
	p.deleting = append(p.deleting, q.deleting...)
	p.failures = append(p.failures, q.failures...)
	p.conflicts = append(p.conflicts, q.conflicts...)
	p.transient = p.transient || q.transient
	p.errs = append(p.errs, q.errs...)
	p.externals = append(p.externals, q.externals...)
	for k, v := range q.scope.Observed {
		p.scope.Observed[k] = v
	}
}

// run walks the graph: every node starts once its own dependencies are
// done (at most nodeParallelism at a time), so a node whose inputs are
// pending waits while independent nodes proceed. The outcome is merged in
// topological order, so messages read the same whatever finished first.
func (r *reconciler) run(ctx context.Context, g *graph.Graph, inst *unstructured.Unstructured, id ownership.Instance) *pass {
	sh := &shared{claimed: map[objectKey]string{}}
	p := newPass(inst.Object, sh)
	order := make([]*graph.Node, 0, len(g.TopologicalOrder))
	for _, nid := range g.TopologicalOrder {
		if n := g.Node(nid); n != nil {
			order = append(order, n)
		}
	}
	results := make(map[string]*pass, len(order))
	done := make(map[string]chan struct{}, len(order))
	var prev <-chan struct{}
	for _, n := range order {
		np := newPass(inst.Object, sh)
		np.turn = &turn{prev: prev, done: make(chan struct{})}
		prev = np.turn.done
		results[n.ID] = np
		done[n.ID] = make(chan struct{})
	}
	sh.applying = make(chan struct{}, nodeParallelism)
	var wg sync.WaitGroup
	for i, n := range order {
		node := func() {
			defer close(done[n.ID])
			np := results[n.ID]
			// A node that claims nothing (excluded, pending, failed) passes
			// its turn on when it is done.
			defer func() {
				np.turn.wait()
				np.turn.release()
			}()
			for _, d := range n.Dependencies {
				ch, ok := done[d]
				if !ok {
					continue
				}
				<-ch
				// What a dependent needs of a dependency: what it observed and
				// whether it is excluded or not ready. Its messages stay its own.
				dp := results[d]
				if v, ok := dp.scope.Observed[d]; ok {
					np.scope.Observed[d] = v
				}
				if dp.excluded.Has(d) {
					np.excluded.Insert(d)
				}
				if dp.unready.Has(d) {
					np.unready.Insert(d)
				}
			}
			r.runNode(ctx, n, id, np)
		}
		// The last node runs on this goroutine, whose stack has grown
		// already: nothing waits for it, and a new goroutine would grow
		// its own stack again on every reconcile.
		if i == len(order)-1 {
			node()
			break
		}
		wg.Go(node)
	}
	wg.Wait()
	for _, n := range order {
		p.merge(results[n.ID])
	}
	return p
}

// runNode evaluates one node against its dependencies' outcome.
func (r *reconciler) runNode(ctx context.Context, n *graph.Node, id ownership.Instance, p *pass) {
	nid := n.ID
	if p.blocked(n) {
		p.excluded.Insert(nid)
		return
	}
	// Dependents of a node that is not ready yet wait for it (kro's
	// readyWhen gates the nodes that reference it).
	if dep := p.unreadyDependency(n); dep != "" {
		p.pending = append(p.pending, nodeMessage{nid, "waiting for " + dep + " to become ready"})
		return
	}
	inc, err := n.Included(ctx, p.scope)
	if err != nil {
		p.evalFailure(nid, err)
		return
	}
	if !inc {
		p.excluded.Insert(nid)
		return
	}
	if n.External {
		r.observeExternal(ctx, n, p)
	} else {
		r.applyNode(ctx, n, id, p)
	}
	if _, ok := p.scope.Observed[nid]; !ok {
		return
	}
	if msg := terminating(p.scope.Observed[nid]); msg != "" {
		// As in kro, a child that is being deleted blocks its dependents
		// until it is gone; it is created again on the next pass.
		p.deleting = append(p.deleting, nodeMessage{nid, msg})
		p.unready.Insert(nid)
		return
	}
	ready, err := n.Ready(ctx, p.scope)
	switch {
	case errors.Is(err, graph.ErrPending):
		p.notReady = append(p.notReady, nodeMessage{nid, pendingMessage(err)})
		p.unready.Insert(nid)
	case err != nil:
		p.failures = append(p.failures, nodeMessage{nid, err.Error()})
		p.unready.Insert(nid)
	case !ready:
		p.notReady = append(p.notReady, nodeMessage{nid, "readyWhen is not yet true"})
		p.unready.Insert(nid)
	}
}

// terminating describes the objects of an observed node that carry a
// deletion timestamp, or returns "".
func terminating(observed any) string {
	var objs []any
	switch v := observed.(type) {
	case []any:
		objs = v
	case map[string]any:
		objs = []any{v}
	}
	var names []string
	for _, o := range objs {
		u, ok := o.(map[string]any)
		if !ok {
			continue
		}
		obj := unstructured.Unstructured{Object: u}
		if obj.GetDeletionTimestamp() != nil {
			names = append(names, obj.GetKind()+" "+objectName(&obj))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return strings.Join(names, ", ") + " is terminating"
}

func pendingMessage(err error) string {
	var pe *graph.PendingError
	if errors.As(err, &pe) {
		return "waiting for " + pe.Waiting
	}
	return err.Error()
}

func (p *pass) evalFailure(nid string, err error) {
	if errors.Is(err, graph.ErrPending) {
		p.pending = append(p.pending, nodeMessage{nid, pendingMessage(err)})
		return
	}
	if errors.Is(err, graph.ErrInterrupted) {
		// The reconcile's context ended mid-evaluation: retry. Still a
		// failure, so nothing is pruned on a partial pass.
		p.transient = true
		p.errs = append(p.errs, err)
	}
	p.failures = append(p.failures, nodeMessage{nid, err.Error()})
}

// applyNode renders a node and server-side applies its objects.
func (r *reconciler) applyNode(ctx context.Context, n *graph.Node, id ownership.Instance, p *pass) {
	objs, err := n.Render(ctx, p.scope, graph.RenderOptions{})
	if err != nil {
		p.evalFailure(n.ID, err)
		return
	}
	if !p.withinBudget(n.ID, len(objs), r.c.opts.MaxObjectsPerInstance) {
		return
	}
	kind := r.k.gvk.Kind
	ok := true
	keys := make([]objectKey, len(objs))
	for i, obj := range objs {
		if keys := reservedKeys(obj); len(keys) > 0 {
			p.failures = append(p.failures, nodeMessage{n.ID, reservedKeysMessage(obj, keys)})
			ok = false
			continue
		}
		l := obj.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		for k, v := range ownership.ChildLabels(id, n.ID) {
			l[k] = v
		}
		if n.Collection {
			for k, v := range ownership.CollectionLabels(i, len(objs)) {
				l[k] = v
			}
		}
		obj.SetLabels(l)
		keys[i] = keyOf(obj.GroupVersionKind(), obj.GetNamespace(), obj.GetName())
	}
	if !ok {
		return
	}
	// Nodes claim their objects in topological order, so that of two
	// resources rendering the same object the first always keeps it (as in
	// kro, it is an error naming both), however the nodes were scheduled.
	p.turn.wait()
	for i, obj := range objs {
		if other, first := p.shared.claim(keys[i], n.ID); !first {
			p.failures = append(p.failures, nodeMessage{n.ID, duplicateMessage(obj, other, n.ID)})
			ok = false
		}
	}
	p.turn.release()
	if !ok {
		return
	}
	p.shared.applying <- struct{}{}
	defer func() { <-p.shared.applying }()
	observed := make([]any, 0, len(objs))
	for i, obj := range objs {
		p.desired.Insert(keys[i])
		if obj.GetNamespace() != "" {
			p.namespaces.Insert(obj.GetNamespace())
		}
		live, applied := r.claimAndApply(ctx, n, obj, keys[i], id, p)
		if live == nil {
			ok = false
			continue
		}
		if applied {
			metrics.Applies.WithLabelValues(kind, "ok").Inc()
		}
		observed = append(observed, live.Object)
	}
	if !ok {
		return
	}
	p.applied.Insert(n.ID)
	if n.Collection {
		p.scope.Observed[n.ID] = observed
	} else if len(observed) == 1 {
		p.scope.Observed[n.ID] = observed[0]
	}
}

// turn orders one step of the nodes of a pass: a node waits for the one
// before it in topological order to take (or skip) the step.
type turn struct {
	prev <-chan struct{}
	done chan struct{}
	once sync.Once
}

func (t *turn) wait() {
	if t != nil && t.prev != nil {
		<-t.prev
	}
}

func (t *turn) release() {
	if t != nil {
		t.once.Do(func() { close(t.done) })
	}
}

func objectName(o interface {
	GetNamespace() string
	GetName() string
}) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// duplicateMessage reports an object rendered twice in one instance.
func duplicateMessage(obj *unstructured.Unstructured, first, second string) string {
	if first == second {
		return fmt.Sprintf("resource %s renders %s %s more than once; each object of a collection must have its own name", second, obj.GetKind(), objectName(obj))
	}
	return fmt.Sprintf("resources %s and %s both render %s %s; the object is left to %s and %s is not applied", first, second, obj.GetKind(), objectName(obj), first, second)
}

// claimAndApply applies one rendered object if the instance may write it:
// under the object's key lock, the create, or the claim (does it exist,
// whose is it) and the apply, happen with no other worker in between. A
// conflict leaves the object untouched. It returns the live object (nil
// when it could not be applied) and whether it was written: an object whose
// rendered state is unchanged since it was last applied, and whose applied
// fields nobody changed, is not written again.
func (r *reconciler) claimAndApply(ctx context.Context, n *graph.Node, obj *unstructured.Unstructured, key objectKey, id ownership.Instance, p *pass) (*unstructured.Unstructured, bool) {
	hash := desiredHash(obj)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnotationAppliedHash] = hash
	obj.SetAnnotations(ann)
	lock := obj.GetAPIVersion() + "/" + obj.GetKind() + "/" + objectName(obj)
	r.c.childLocks.LockKey(lock)
	defer func() { _ = r.c.childLocks.UnlockKey(lock) }()
	live, err := r.cachedChild(ctx, obj)
	if err != nil {
		p.failures = append(p.failures, nodeMessage{n.ID, err.Error()})
		p.transient = true
		p.errs = append(p.errs, err)
		return nil, false
	}
	if cur := r.current(ctx, key, obj, live, hash, id); cur != nil {
		return cur, false
	}
	var rec *appliedRecord
	r.k.applied.begin(key)
	defer func() { r.routeHeld(key, rec) }()
	// An object the children cache does not hold is most often one this
	// instance is about to create: tried first as a create, in one request.
	// Anything else (it exists, or the create failed) is claimed the long way.
	created := live == nil && r.c.watched(obj.GroupVersionKind()) && CreateOnly(ctx, r.c.writer, obj) == nil
	if !created && !r.claimThenApply(ctx, n, obj, live, key, id, p) {
		return nil, false
	}
	// Kept until the cache catches up, as the cache would hold it.
	obj.SetManagedFields(nil)
	rec = &appliedRecord{uid: obj.GetUID(), rv: obj.GetResourceVersion(), hash: hash, obj: obj, at: time.Now()}
	r.k.applied.put(key, rec)
	return obj, true
}

// claimThenApply applies obj after claimChild allowed it, with the UID of
// an existing object as a precondition. It reports whether obj was applied
// (obj then holds the answer); a conflict or a failure is recorded in p.
func (r *reconciler) claimThenApply(ctx context.Context, n *graph.Node, obj, live *unstructured.Unstructured, key objectKey, id ownership.Instance, p *pass) bool {
	cl, err := r.claimChild(ctx, obj, live, id)
	if err != nil {
		p.failures = append(p.failures, nodeMessage{n.ID, err.Error()})
		p.transient = true
		p.errs = append(p.errs, err)
		return false
	}
	if !cl.ok {
		p.conflicts = append(p.conflicts, nodeMessage{n.ID, cl.conflict})
		return false
	}
	if cl.uid != "" {
		// The UID is a precondition: an object replaced since the claim is not written.
		obj.SetUID(types.UID(cl.uid))
	}
	if err := r.c.writer.Apply(ctx, obj, v1alpha1.FieldManager); err != nil {
		r.k.applied.forget(key)
		metrics.Applies.WithLabelValues(r.k.gvk.Kind, "error").Inc()
		p.failures = append(p.failures, nodeMessage{n.ID, fmt.Sprintf("applying %s %s: %v", obj.GetKind(), objectName(obj), err)})
		p.transient = true
		p.errs = append(p.errs, fmt.Errorf("applying %s %s: %w", obj.GetKind(), objectName(obj), err))
		return false
	}
	return true
}

// routeHeld ends the in-flight apply of key, which recorded rec (nil when
// it failed), and routes the child events held meanwhile that the apply's
// answer does not account for.
func (r *reconciler) routeHeld(key objectKey, rec *appliedRecord) {
	for _, e := range r.k.applied.end(key, rec) {
		r.k.route(e.obj, e.after)
	}
}

// cachedChild reads a child from the children cache (nil when the cache
// does not hold it, or holds no synced informer for its kind).
func (r *reconciler) cachedChild(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if !r.c.watched(obj.GroupVersionKind()) {
		return nil, nil
	}
	u, err := r.c.getChild(ctx, obj.GroupVersionKind(), client.ObjectKey{Namespace: obj.GetNamespace(), Name: obj.GetName()})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", obj.GetKind(), objectName(obj), err)
	}
	return u, nil
}

// current returns the live child when applying the rendered object would
// change nothing, or nil: the child is this instance's and not being
// deleted, was last applied with the same rendered object (its
// applied-hash annotation), and the fields korvid applied still hold their
// values (the resourceVersion korvid last saw, or a field by field check:
// drift is reverted by applying again).
func (r *reconciler) current(ctx context.Context, key objectKey, desired, live *unstructured.Unstructured, hash string, id ownership.Instance) *unstructured.Unstructured {
	rec := r.k.applied.get(key)
	if rec != nil && rec.hash == hash {
		switch {
		case live != nil && live.GetUID() == rec.uid && olderRV(live.GetResourceVersion(), rec.rv) && rec.obj != nil:
			// The cache has not caught up with the last apply yet.
			return rec.obj.DeepCopy()
		case live == nil:
			// Created a moment ago and not in the cache yet, or deleted:
			// the API server tells which.
			fresh := &unstructured.Unstructured{}
			fresh.SetGroupVersionKind(desired.GroupVersionKind())
			if err := r.c.reader.Get(ctx, client.ObjectKey{Namespace: desired.GetNamespace(), Name: desired.GetName()}, fresh); err != nil {
				return nil
			}
			live = fresh
		}
	}
	if live == nil || !live.GetDeletionTimestamp().IsZero() || live.GetAnnotations()[AnnotationAppliedHash] != hash {
		return nil
	}
	if uid, ok := ownership.OwnerOf(live); !ok || uid != id.UID {
		return nil
	}
	if rec != nil && rec.uid == live.GetUID() && rec.rv == live.GetResourceVersion() && rec.hash == hash {
		if rec.obj != nil {
			r.k.applied.put(key, &appliedRecord{uid: rec.uid, rv: rec.rv, hash: hash})
		}
		return live
	}
	if !desiredHolds(desired, live) {
		return nil
	}
	r.k.applied.put(key, &appliedRecord{uid: live.GetUID(), rv: live.GetResourceVersion(), hash: hash})
	return live
}

// observeExternal reads an externalRef; it is never written.
func (r *reconciler) observeExternal(ctx context.Context, n *graph.Node, p *pass) {
	t, err := n.ResolveExternal(ctx, p.scope)
	if err != nil {
		p.evalFailure(n.ID, err)
		return
	}
	p.externals = append(p.externals, t)
	if t.Name != "" {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(t.GVK)
		err := r.c.reader.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Name}, u)
		if apierrors.IsNotFound(err) {
			p.pending = append(p.pending, nodeMessage{n.ID, fmt.Sprintf("waiting for external reference %s %s", t.GVK.Kind, objectName(nameOnly{t.Namespace, t.Name}))})
			return
		}
		if err != nil {
			p.failures = append(p.failures, nodeMessage{n.ID, fmt.Sprintf("reading external reference: %v", err)})
			p.transient = true
			p.errs = append(p.errs, err)
			return
		}
		p.scope.Observed[n.ID] = u.Object
		return
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(t.GVK.GroupVersion().WithKind(t.GVK.Kind + "List"))
	opts := []client.ListOption{client.MatchingLabelsSelector{Selector: t.Selector}}
	if t.Namespace != "" {
		opts = append(opts, client.InNamespace(t.Namespace))
	}
	if err := r.c.reader.List(ctx, list, opts...); err != nil {
		p.failures = append(p.failures, nodeMessage{n.ID, fmt.Sprintf("listing external references: %v", err)})
		p.transient = true
		p.errs = append(p.errs, err)
		return
	}
	items := make([]any, 0, len(list.Items))
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].GetName() < list.Items[j].GetName() })
	for i := range list.Items {
		items = append(items, list.Items[i].Object)
	}
	p.scope.Observed[n.ID] = items
}

type nameOnly struct{ ns, name string }

func (n nameOnly) GetNamespace() string { return n.ns }
func (n nameOnly) GetName() string      { return n.name }

// InstanceFieldManager owns the metadata korvid sets on instances.
const InstanceFieldManager = "kro.run/instance-controller"

// ensureMetadata sets the finalizer, the instance labels and the ApplySet
// annotations with server-side apply (no conflicts with other writers of
// the instance's metadata). Before a pass (p == nil) the group-kinds and
// namespaces are widened; after a successful prune they are set exactly.
func (r *reconciler) ensureMetadata(ctx context.Context, g *graph.Graph, inst *unstructured.Unstructured, id ownership.Instance, p *pass) error {
	labels := ownership.InstanceLabels(id, g.RGDName, string(g.RGDUID))
	cur := inst.GetAnnotations()
	ann := map[string]string{v1alpha1.AnnotationApplySetTooling: "korvid/" + version.Version}
	gks := graphGroupKinds(g)
	if p == nil {
		gks = gks.Union(parseGroupKinds(cur[v1alpha1.AnnotationApplySetGroupKinds]))
	}
	ann[v1alpha1.AnnotationApplySetGroupKinds] = formatGroupKinds(gks)
	if p != nil {
		ns := p.namespaces.Clone()
		ns.Delete(inst.GetNamespace())
		if ns.Len() > 0 {
			ann[v1alpha1.AnnotationApplySetNamespaces] = strings.Join(sets.List(ns), ",")
		}
	} else if v, ok := cur[v1alpha1.AnnotationApplySetNamespaces]; ok {
		ann[v1alpha1.AnnotationApplySetNamespaces] = v
	}
	_, hadNamespaces := cur[v1alpha1.AnnotationApplySetNamespaces]
	_, wantNamespaces := ann[v1alpha1.AnnotationApplySetNamespaces]
	if controllerutil.ContainsFinalizer(inst, v1alpha1.Finalizer) && subset(labels, inst.GetLabels()) &&
		subset(ann, cur) && hadNamespaces == wantNamespaces {
		return nil
	}
	ac := &unstructured.Unstructured{}
	ac.SetGroupVersionKind(inst.GroupVersionKind())
	ac.SetNamespace(inst.GetNamespace())
	ac.SetName(inst.GetName())
	ac.SetUID(inst.GetUID())
	ac.SetLabels(labels)
	ac.SetAnnotations(ann)
	ac.SetFinalizers([]string{v1alpha1.Finalizer})
	if err := r.c.writer.Apply(ctx, ac, InstanceFieldManager); err != nil {
		return fmt.Errorf("updating instance metadata: %w", err)
	}
	inst.Object = ac.Object
	r.wrote(inst)
	return nil
}

// subset reports whether every entry of want is in have.
func subset(want, have map[string]string) bool {
	return labels.SelectorFromValidatedSet(want).Matches(labels.Set(have))
}

func graphGroupKinds(g *graph.Graph) sets.Set[string] {
	s := sets.New[string]()
	for _, n := range g.Nodes {
		if !n.External {
			s.Insert(formatGroupKind(n.GVK.GroupKind()))
		}
	}
	return s
}

func formatGroupKind(gk schema.GroupKind) string {
	if gk.Group == "" {
		return gk.Kind
	}
	return gk.Kind + "." + gk.Group
}

func parseGroupKinds(v string) sets.Set[string] {
	s := sets.New[string]()
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			s.Insert(p)
		}
	}
	return s
}

func formatGroupKinds(s sets.Set[string]) string { return strings.Join(sets.List(s), ",") }
