// Package instance reconciles instances of the kinds generated from
// ResourceGraphDefinitions. One controller runs per active kind inside the
// manager; Controllers starts, hot-swaps (a new compiled graph for the same
// kind) and stops them at run time.
//
// Children are watched with shared informers, one per child kind, in a cache
// that only holds objects labelled kro.run/owned=true (whole, without
// managedFields, indexed by instance; built-in kinds as their Go types, see
// childcache.go); their events are routed to the owning
// instance by its kro.run/instance-* labels. External references are
// watched as metadata through the manager's cache.
package instance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/keymutex"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/controller/metrics"
	"github.com/korvid/korvid/internal/graph"
)

// Options configure the instance controllers.
type Options struct {
	// MaxConcurrentReconciles is the number of workers per instance kind.
	MaxConcurrentReconciles int
	// MaxObjectsPerInstance caps the objects one instance renders across
	// all its resources (DefaultMaxObjectsPerInstance when unset).
	MaxObjectsPerInstance int
	// InformerSyncTimeout is how long a child or external kind's informer
	// may take to sync before it is stopped and reported
	// (DefaultInformerSyncTimeout when unset).
	InformerSyncTimeout time.Duration
}

// DefaultMaxObjectsPerInstance is the default of Options.MaxObjectsPerInstance.
const DefaultMaxObjectsPerInstance = 2000

// Controllers runs one instance controller per active generated kind.
type Controllers struct {
	mgr      manager.Manager
	client   client.Client
	writer   *Writer       // applies and status patches
	reader   client.Reader // uncached, for deletion inventories
	children cache.Cache   // metadata of objects labelled kro.run/owned=true
	recorder recorder.EventRecorder
	opts     Options

	started chan struct{}
	baseCtx context.Context

	// childLocks serialise the claim and apply of one child object across
	// every worker of every kind: two instances rendering the same object
	// never both write it.
	childLocks keymutex.KeyMutex

	// typedOnce decides typed, whether children of built-in kinds are
	// cached as their Go types (see childcache.go).
	typedOnce sync.Once
	typed     bool

	mu         sync.Mutex
	kinds      map[schema.GroupKind]*kindController
	inventory  map[schema.GroupKind][]schema.GroupKind
	childWatch map[schema.GroupVersionKind]bool
	extWatch   map[schema.GroupVersionKind]bool
	// watchFailed holds the kinds whose informer did not sync in time; they
	// are retried after watchRetry.
	watchFailed map[schema.GroupVersionKind]watchFailure
	// watchPending holds the kinds whose informer is syncing.
	watchPending map[schema.GroupVersionKind]bool

	// childSettle is how long a child's update waits before its instance
	// is reconciled (childUpdateSettle).
	childSettle time.Duration
}

// watchFailure records an informer that did not sync.
type watchFailure struct {
	err   error
	until time.Time
}

// kindController is the running controller of one generated kind.
type kindController struct {
	gvk    schema.GroupVersionKind
	graph  atomic.Pointer[graph.Graph]
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.RWMutex
	queue workqueue.TypedRateLimitingInterface[reconcile.Request]

	// externals maps an instance (reconcile.Request) to the external
	// references it resolved last ([]*graph.ExternalTarget).
	externals sync.Map

	// blocked is set while the newest graph revision of the RGD failed to
	// compile: instances are not reconciled against the older graph.
	blocked atomic.Pointer[block]

	// inventory holds the child kinds named by the RGD's graph revisions
	// ([]schema.GroupKind): deletion and pruning look for children of these
	// kinds besides the running graph's.
	inventory atomic.Pointer[[]schema.GroupKind]

	// applied records what the reconciler last applied to each child; the
	// echo of its own apply is not routed back to the instance.
	applied appliedRecords
}

func (k *kindController) enqueue(req reconcile.Request) { k.enqueueAfter(req, 0) }

// enqueueAfter adds req to the queue after d. Delayed adds of one request
// are merged at the earliest of their times, and a request already in the
// queue is not added twice; an immediate add does not cancel a delayed one,
// which reconciles once more when its time comes.
func (k *kindController) enqueueAfter(req reconcile.Request, d time.Duration) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	switch {
	case k.queue == nil:
	case d <= 0:
		k.queue.Add(req)
	default:
		k.queue.AddAfter(req, d)
	}
}

// childUpdateSettle is how long the update of a child waits before its
// instance is reconciled. Other controllers write a child's status in quick
// runs (a Deployment's status changes three or four times on its way to
// available, within a second or so); updates within this window reconcile
// the instance once. Creations and deletions of children are not delayed.
const childUpdateSettle = 250 * time.Millisecond

// New builds the instance controllers and registers their runnables (the
// children cache and the controller set itself) with the manager.
func New(mgr manager.Manager, opts Options) (*Controllers, error) {
	if opts.MaxConcurrentReconciles <= 0 {
		opts.MaxConcurrentReconciles = 16
	}
	if opts.MaxObjectsPerInstance <= 0 {
		opts.MaxObjectsPerInstance = DefaultMaxObjectsPerInstance
	}
	if opts.InformerSyncTimeout <= 0 {
		opts.InformerSyncTimeout = DefaultInformerSyncTimeout
	}
	children, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme:               mgr.GetScheme(),
		Mapper:               mgr.GetRESTMapper(),
		HTTPClient:           mgr.GetHTTPClient(),
		DefaultLabelSelector: labels.SelectorFromSet(labels.Set{v1alpha1.LabelOwned: "true"}),
		DefaultTransform:     stripChild,
	})
	if err != nil {
		return nil, fmt.Errorf("building the children cache: %w", err)
	}
	c := &Controllers{
		mgr:        mgr,
		client:     mgr.GetClient(),
		writer:     NewWriter(mgr.GetConfig(), mgr.GetHTTPClient(), mgr.GetRESTMapper()),
		reader:     mgr.GetAPIReader(),
		children:   children,
		recorder:   mgr.GetEventRecorder("korvid-instance-controller"),
		opts:       opts,
		started:    make(chan struct{}),
		kinds:      map[schema.GroupKind]*kindController{},
		childWatch: map[schema.GroupVersionKind]bool{},
		extWatch:   map[schema.GroupVersionKind]bool{},
		childLocks: keymutex.NewHashed(64),

		childSettle:  childUpdateSettle,
		watchFailed:  map[schema.GroupVersionKind]watchFailure{},
		watchPending: map[schema.GroupVersionKind]bool{},
	}
	if err := mgr.Add(cacheRunnable{children}); err != nil {
		return nil, fmt.Errorf("adding the children cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return nil, fmt.Errorf("adding the instance controllers: %w", err)
	}
	return c, nil
}

// cacheRunnable runs the children cache on every replica, like the manager's own cache.
type cacheRunnable struct{ cache.Cache }

func (cacheRunnable) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable: it records the manager's context, in
// which instance controllers run, and blocks until it is done.
func (c *Controllers) Start(ctx context.Context) error {
	c.baseCtx = ctx
	close(c.started)
	<-ctx.Done()
	kinds := c.running()
	for _, k := range kinds {
		<-k.done
	}
	return nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: instance
// controllers only run on the leader.
func (c *Controllers) NeedLeaderElection() bool { return true }

// Graph returns the graph the controller of a kind currently runs, or nil.
func (c *Controllers) Graph(gk schema.GroupKind) *graph.Graph {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.kinds[gk]; ok {
		return k.graph.Load()
	}
	return nil
}

// Ensure runs the controller for the graph's kind, or hands it the new graph
// when it already runs (every instance is then reconciled again, which rolls
// the change out). It also makes sure every child and external kind of the
// graph is watched.
func (c *Controllers) Ensure(ctx context.Context, g *graph.Graph) error {
	return c.ensure(ctx, g, nil)
}

// EnsureBlocked runs the controller of the graph's kind held back by a
// failed newer revision from the start: instances being deleted are
// finalized, the others only get the block reported (or, with keepStatus,
// are left as they are). It is how a kind keeps
// a controller able to delete its instances when the newest revision of its
// RGD does not compile (after a controller restart, say). A controller that
// already runs a graph of the same RGD is only blocked.
func (c *Controllers) EnsureBlocked(ctx context.Context, g *graph.Graph, revision, message string, keepStatus bool) error {
	gk := g.Instance.GVK.GroupKind()
	c.mu.Lock()
	k, ok := c.kinds[gk]
	c.mu.Unlock()
	if ok && k.graph.Load().RGDName == g.RGDName && k.gvk == g.Instance.GVK {
		return c.Block(ctx, gk, g.RGDName, revision, message, keepStatus)
	}
	return c.ensure(ctx, g, &block{revision: revision, message: message, keepStatus: keepStatus})
}

// InventoryOnly returns a graph without resources for an instance kind: a
// controller running it deletes instances from the label inventory alone
// (the kinds SetInventory names) and reconciles nothing else.
func InventoryOnly(gvk schema.GroupVersionKind, rgdName string, rgdUID types.UID) *graph.Graph {
	return &graph.Graph{RGDName: rgdName, RGDUID: rgdUID, Instance: graph.InstanceKind{GVK: gvk}}
}

// SetInventory records the child kinds the RGD's graph revisions name, for
// the controller of kind gk (before or after it starts). Children of these
// kinds are found and deleted even when the running graph no longer has
// them; an instance's own ApplySet annotation never adds a kind by itself.
func (c *Controllers) SetInventory(gk schema.GroupKind, kinds []schema.GroupKind) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inventory == nil {
		c.inventory = map[schema.GroupKind][]schema.GroupKind{}
	}
	c.inventory[gk] = append([]schema.GroupKind(nil), kinds...)
	if k, ok := c.kinds[gk]; ok {
		v := c.inventory[gk]
		k.inventory.Store(&v)
	}
}

func (c *Controllers) ensure(ctx context.Context, g *graph.Graph, b *block) error {
	select {
	case <-c.started:
	case <-ctx.Done():
		return ctx.Err()
	}
	gk := g.Instance.GVK.GroupKind()
	// A kind whose CRD was just established may be unknown to the REST
	// mapper; asking for it refreshes the mapper before informers need it.
	if _, err := c.mgr.GetRESTMapper().RESTMapping(gk, g.Instance.GVK.Version); err != nil {
		return fmt.Errorf("mapping %s: %w", g.Instance.GVK, err)
	}
	if err := c.watchKinds(ctx, g); err != nil {
		return err
	}
	c.mu.Lock()
	k, ok := c.kinds[gk]
	if ok && k.gvk == g.Instance.GVK {
		old := k.graph.Swap(g)
		wasBlocked := k.blocked.Swap(b) != nil
		c.mu.Unlock()
		// A recompile of the same RGD generation (the RGD is reconciled
		// again on CRD events) serves future reconciles; a new generation,
		// or a graph that lifts a block, is rolled out to every instance now.
		if wasBlocked || old.RGDUID != g.RGDUID || old.Generation != g.Generation {
			return c.enqueueAll(ctx, k)
		}
		return nil
	}
	c.mu.Unlock()
	if ok { // the version changed: run a new controller for it
		c.Stop(ctx, gk)
	}
	return c.start(g, b)
}

func (c *Controllers) start(g *graph.Graph, b *block) error {
	gvk := g.Instance.GVK
	k := &kindController{gvk: gvk, done: make(chan struct{})}
	k.graph.Store(g)
	k.blocked.Store(b)
	r := &reconciler{c: c, k: k}
	opts := controller.Options{
		Reconciler:              r,
		MaxConcurrentReconciles: c.opts.MaxConcurrentReconciles,
		SkipNameValidation:      ptr.To(true),
		NeedLeaderElection:      ptr.To(true),
		RateLimiter:             rateLimiter(),
		// A backstop: no reconcile holds a worker longer than this.
		ReconciliationTimeout: reconcileTimeout,
	}
	opts.DefaultFromConfig(c.mgr.GetControllerOptions())
	opts.Logger = c.mgr.GetLogger().WithValues("kind", gvk.Kind, "group", gvk.Group)
	ctrl, err := controller.NewUnmanaged("instance-"+gvk.Kind+"."+gvk.Group, opts)
	if err != nil {
		return fmt.Errorf("building the controller of %s: %w", gvk, err)
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	if err := ctrl.Watch(source.Kind[client.Object](c.mgr.GetCache(), obj, &handler.EnqueueRequestForObject{}, instanceChanged)); err != nil {
		return fmt.Errorf("watching %s: %w", gvk, err)
	}
	// The controller hands its queue to the kindController so that child and
	// external-reference events can be routed into it.
	if err := ctrl.Watch(source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		k.mu.Lock()
		k.queue = q
		k.mu.Unlock()
		return nil
	})); err != nil {
		return fmt.Errorf("watching children of %s: %w", gvk, err)
	}
	ctx, cancel := context.WithCancel(c.baseCtx)
	k.cancel = cancel
	c.mu.Lock()
	if inv, ok := c.inventory[gvk.GroupKind()]; ok {
		k.inventory.Store(&inv)
	}
	c.kinds[gvk.GroupKind()] = k
	c.mu.Unlock()
	metrics.InstanceControllers.Inc()
	go func() {
		defer close(k.done)
		if err := ctrl.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
			c.mgr.GetLogger().Error(err, "instance controller stopped", "kind", gvk.String())
		}
	}()
	return nil
}

// rateLimiter retries a failing instance from 50ms up to 5 minutes apart,
// and bounds retries of all instances of a kind to 50/s (bursts of 500), so
// a broken RGD cannot flood the API server.
func rateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](50*time.Millisecond, 5*time.Minute),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(50), 500)},
	)
}

// Stop stops the controller of a kind, if it runs, and drops its informer.
func (c *Controllers) Stop(ctx context.Context, gk schema.GroupKind) {
	c.mu.Lock()
	k, ok := c.kinds[gk]
	delete(c.kinds, gk)
	c.mu.Unlock()
	if !ok {
		return
	}
	k.cancel()
	<-k.done
	metrics.InstanceControllers.Dec()
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(k.gvk)
	if err := c.mgr.GetCache().RemoveInformer(ctx, obj); err != nil {
		c.mgr.GetLogger().Error(err, "removing instance informer", "kind", k.gvk.String())
	}
}

func (c *Controllers) enqueueAll(ctx context.Context, k *kindController) error {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(k.gvk.GroupVersion().WithKind(k.gvk.Kind + "List"))
	if err := c.mgr.GetCache().List(ctx, list); err != nil {
		return fmt.Errorf("listing instances of %s: %w", k.gvk, err)
	}
	for i := range list.Items {
		k.enqueue(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: list.Items[i].GetNamespace(), Name: list.Items[i].GetName()}})
	}
	return nil
}

// instanceChanged lets through changes a reconcile must see: spec
// (generation), deletion, and labels or annotations other than those the
// reconciler writes itself; not its own status and metadata writes.
var instanceChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return o.GetGeneration() != n.GetGeneration() ||
			!equalUnmanaged(o.GetLabels(), n.GetLabels()) ||
			!equalUnmanaged(o.GetAnnotations(), n.GetAnnotations()) ||
			o.GetDeletionTimestamp().IsZero() != n.GetDeletionTimestamp().IsZero()
	},
}

// managedKeys are the instance labels and annotations the reconciler sets.
var managedKeys = map[string]bool{
	v1alpha1.LabelOwned: true, v1alpha1.LabelKroVersion: true, v1alpha1.LabelRGDID: true, v1alpha1.LabelRGDName: true,
	v1alpha1.LabelApplySetID: true, v1alpha1.AnnotationApplySetTooling: true,
	v1alpha1.AnnotationApplySetGroupKinds: true, v1alpha1.AnnotationApplySetNamespaces: true,
}

// equalUnmanaged compares two maps ignoring the keys the reconciler manages.
func equalUnmanaged(a, b map[string]string) bool {
	for k, v := range a {
		if w, ok := b[k]; !managedKeys[k] && (!ok || w != v) {
			return false
		}
	}
	for k := range b {
		if _, ok := a[k]; !managedKeys[k] && !ok {
			return false
		}
	}
	return true
}

// informerObject is the object an informer of a kind is keyed by: children
// are cached whole (their status feeds readiness and CEL, and an unchanged
// child is not applied again), external references as metadata.
func (c *Controllers) informerObject(gvk schema.GroupVersionKind, external bool) client.Object {
	if external {
		return metadataObject(gvk)
	}
	return c.childObject(gvk)
}

// instanceIndex indexes the children cache by the instance UID label, so an
// instance's inventory is read without scanning every child of a kind.
const instanceIndex = "korvid.instance-id"

func instanceIndexValue(o client.Object) []string {
	if uid := o.GetLabels()[v1alpha1.LabelInstanceID]; uid != "" {
		return []string{uid}
	}
	return nil
}

// stripChild drops from cached children what korvid never reads: managed
// fields and kubectl's last-applied configuration.
func stripChild(in any) (any, error) {
	if o, ok := in.(client.Object); ok {
		o.SetManagedFields(nil)
		if a := o.GetAnnotations(); a != nil {
			if _, ok := a[lastApplied]; ok {
				delete(a, lastApplied)
				o.SetAnnotations(a)
			}
		}
	}
	return in, nil
}

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

func metadataObject(gvk schema.GroupVersionKind) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(gvk)
	return m
}

// watchKinds makes sure the graph's child kinds and external kinds have a
// shared metadata informer with the routing handler. It never waits for an
// informer to sync: each one syncs in the background, and one that does not
// sync within Options.InformerSyncTimeout (a kind the controller may not list, say)
// is stopped and reported by WatchProblems.
func (c *Controllers) watchKinds(ctx context.Context, g *graph.Graph) error {
	for _, n := range g.Nodes {
		c.mu.Lock()
		seen := c.childWatch[n.GVK]
		if n.External {
			seen = c.extWatch[n.GVK]
		}
		f, failed := c.watchFailed[n.GVK]
		if failed && time.Now().After(f.until) {
			// Retry it; the failure stays reported until it syncs.
			failed = false
		}
		c.mu.Unlock()
		if seen || failed {
			continue
		}
		gvk := n.GVK
		from, h := c.children, toolscache.ResourceEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { c.routeChildChange(gvk, o, 0) },
			UpdateFunc: func(o, n any) { c.routeChildUpdate(gvk, o, n) },
			DeleteFunc: func(o any) { c.routeChild(o, 0) },
		})
		if n.External {
			from, h = c.mgr.GetCache(), c.routeExternal(n.GVK)
		}
		inf, err := from.GetInformer(ctx, c.informerObject(n.GVK, n.External), cache.BlockUntilSynced(false))
		if err != nil {
			return fmt.Errorf("watching %s: %w", n.GVK, err)
		}
		if !n.External {
			if err := from.IndexField(ctx, c.informerObject(n.GVK, false), instanceIndex, instanceIndexValue); err != nil {
				return fmt.Errorf("indexing %s: %w", n.GVK, err)
			}
		}
		if _, err := inf.AddEventHandler(h); err != nil {
			return fmt.Errorf("watching %s: %w", n.GVK, err)
		}
		c.mu.Lock()
		if n.External {
			c.extWatch[n.GVK] = true
		} else {
			c.childWatch[n.GVK] = true
		}
		c.watchPending[n.GVK] = true
		c.mu.Unlock()
		go c.awaitSync(from, inf, n.GVK, n.External)
	}
	return nil
}

// DefaultInformerSyncTimeout is how long an informer may take to sync
// before it is stopped (a kind that cannot be listed, e.g. for lack of
// permission, never syncs); watchRetry is how long a failed kind waits
// before it is tried again.
const (
	DefaultInformerSyncTimeout = 30 * time.Second
	watchRetry                 = time.Minute
)

const (
	// watchPendingRecheck is how soon an instance whose child informers
	// are still syncing is tried again.
	watchPendingRecheck = time.Second
	// reconcileTimeout bounds one instance reconcile.
	reconcileTimeout = 5 * time.Minute
)

// awaitSync waits in the background for an informer to sync; one that does
// not is removed from its cache (stopping its list/watch loop) and recorded.
func (c *Controllers) awaitSync(from cache.Cache, inf cache.Informer, gvk schema.GroupVersionKind, external bool) {
	ctx, cancel := context.WithTimeout(c.baseCtx, c.opts.InformerSyncTimeout)
	defer cancel()
	synced := toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	c.mu.Lock()
	delete(c.watchPending, gvk)
	if synced {
		delete(c.watchFailed, gvk)
	}
	if synced || c.baseCtx.Err() != nil {
		c.mu.Unlock()
		return
	}
	if external {
		delete(c.extWatch, gvk)
	} else {
		delete(c.childWatch, gvk)
	}
	err := fmt.Errorf("the informer of %s did not sync within %s (can the controller list and watch it?)", gvk, c.opts.InformerSyncTimeout)
	c.watchFailed[gvk] = watchFailure{err: err, until: time.Now().Add(watchRetry)}
	c.mu.Unlock()
	c.mgr.GetLogger().Info("Stopping an informer that did not sync", "kind", gvk.String(), "timeout", c.opts.InformerSyncTimeout.String())
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(c.baseCtx), 10*time.Second)
	defer rcancel()
	if err := from.RemoveInformer(rctx, c.informerObject(gvk, external)); err != nil {
		c.mgr.GetLogger().Error(err, "Removing an informer that did not sync", "kind", gvk.String())
	}
}

// WatchProblems reports, for the child and external kinds of g, the
// informers that failed to sync (an error naming them) and whether some are
// still syncing.
func (c *Controllers) WatchProblems(g *graph.Graph) (pending bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	seen := map[schema.GroupVersionKind]bool{}
	for _, n := range g.Nodes {
		if seen[n.GVK] {
			continue
		}
		seen[n.GVK] = true
		if c.watchPending[n.GVK] {
			pending = true
		}
		if f, ok := c.watchFailed[n.GVK]; ok {
			errs = append(errs, f.err)
		}
	}
	return pending, errors.Join(errs...)
}

// watched reports whether the children cache has a running informer for gvk.
func (c *Controllers) watched(gvk schema.GroupVersionKind) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.childWatch[gvk] && !c.watchPending[gvk]
}

func metaOf(obj any) (metav1.Object, bool) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, ok := obj.(metav1.Object)
	return m, ok
}

// resync reports whether an update event is an informer resync (the same
// resource version), which changes nothing.
func resync(oldObj, newObj any) bool {
	o, ok1 := metaOf(oldObj)
	n, ok2 := metaOf(newObj)
	return ok1 && ok2 && o.GetResourceVersion() == n.GetResourceVersion()
}

func (c *Controllers) routeChildUpdate(gvk schema.GroupVersionKind, oldObj, newObj any) {
	if resync(oldObj, newObj) {
		return
	}
	if m, k := c.childOf(newObj); k != nil && !k.unreadChange(oldObj, newObj) {
		k.routeChange(gvk, m, c.childSettle)
	}
}

// routeChildChange routes a child of kind gvk that was created or changed
// (kindController.routeChange).
func (c *Controllers) routeChildChange(gvk schema.GroupVersionKind, obj any, after time.Duration) {
	if m, k := c.childOf(obj); k != nil {
		k.routeChange(gvk, m, after)
	}
}

// routeChild enqueues, after the given time, the instance a child belongs
// to, read from its labels.
func (c *Controllers) routeChild(obj any, after time.Duration) {
	if m, k := c.childOf(obj); k != nil {
		k.route(m, after)
	}
}

// childOf returns the metadata of a child event's object and the controller
// of the instance kind it is labelled with (nil when there is none).
func (c *Controllers) childOf(obj any) (metav1.Object, *kindController) {
	m, ok := metaOf(obj)
	if !ok {
		return nil, nil
	}
	l := m.GetLabels()
	gk := schema.GroupKind{Group: l[v1alpha1.LabelInstanceGroup], Kind: l[v1alpha1.LabelInstanceKind]}
	c.mu.Lock()
	defer c.mu.Unlock()
	return m, c.kinds[gk]
}

// routeChange routes a child of kind gvk that was created or changed,
// unless the change is the reconciler's own apply coming back: the pass
// that applied it already saw what the apply returned. An event that
// arrives while the child's apply is in flight waits for its answer
// (appliedRecords.hold).
func (k *kindController) routeChange(gvk schema.GroupVersionKind, m metav1.Object, after time.Duration) {
	key := keyOf(gvk, m.GetNamespace(), m.GetName())
	if k.applied.hold(key, m, after) {
		return
	}
	if r := k.applied.get(key); r != nil && r.uid == m.GetUID() && r.rv == m.GetResourceVersion() {
		return
	}
	k.route(m, after)
}

// route enqueues, after the given time, the instance of this kind a child
// is labelled with.
func (k *kindController) route(m metav1.Object, after time.Duration) {
	l := m.GetLabels()
	if name := l[v1alpha1.LabelInstanceName]; name != "" {
		k.enqueueAfter(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: l[v1alpha1.LabelInstanceNamespace], Name: name}}, after)
	}
}

// routeExternal enqueues the instances whose last reconcile resolved an
// external reference matching the changed object (by name, or by selector
// and namespace). Instances that have not resolved their reference yet are
// reconciled by their own events.
func (c *Controllers) routeExternal(gvk schema.GroupVersionKind) toolscache.ResourceEventHandler {
	route := func(obj any) {
		m, ok := metaOf(obj)
		if !ok {
			return
		}
		kinds := c.running()
		for _, k := range kinds {
			k.externals.Range(func(key, value any) bool {
				for _, t := range value.([]*graph.ExternalTarget) {
					if t.GVK == gvk && targets(t, m) {
						k.enqueue(key.(reconcile.Request))
						break
					}
				}
				return true
			})
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: route,
		UpdateFunc: func(o, n any) {
			if resync(o, n) {
				return
			}
			route(o) // an object leaving a selector matters too
			route(n)
		},
		DeleteFunc: route,
	}
}

// targets reports whether an external reference designates the object.
func targets(t *graph.ExternalTarget, m metav1.Object) bool {
	if t.Namespace != "" && t.Namespace != m.GetNamespace() {
		return false
	}
	if t.Name != "" {
		return t.Name == m.GetName()
	}
	return t.Selector != nil && t.Selector.Matches(labels.Set(m.GetLabels()))
}

// running returns the kind controllers started so far.
func (c *Controllers) running() []*kindController {
	c.mu.Lock()
	defer c.mu.Unlock()
	kinds := make([]*kindController, 0, len(c.kinds))
	for _, k := range c.kinds {
		kinds = append(kinds, k)
	}
	return kinds
}
