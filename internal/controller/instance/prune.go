package instance

import (
	"context"
	"fmt"
	"math"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/controller/metrics"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/ownership"
)

// inventoryKinds are the kinds an instance may have children of: those of
// the running graph and those the RGD's graph revisions name (kinds of
// resources since removed from the RGD, or all of them when the controller
// runs without a compiled graph). The instance's ApplySet annotation is
// written by korvid but stored on an object users can edit: a kind it lists
// is looked at only when a revision names it too. A kind the cluster no
// longer serves has no children.
func (r *reconciler) inventoryKinds(g *graph.Graph, inst *unstructured.Unstructured) []schema.GroupVersionKind {
	seen := map[schema.GroupKind]bool{}
	var out []schema.GroupVersionKind
	if g != nil {
		for _, n := range g.Nodes {
			if !n.External && !seen[n.GVK.GroupKind()] {
				seen[n.GVK.GroupKind()] = true
				out = append(out, n.GVK)
			}
		}
	}
	var named []schema.GroupKind
	if inv := r.k.inventory.Load(); inv != nil {
		named = *inv
	}
	listed := parseGroupKinds(inst.GetAnnotations()[v1alpha1.AnnotationApplySetGroupKinds])
	for _, gk := range named {
		if seen[gk] {
			continue
		}
		seen[gk] = true
		if g != nil && len(g.Nodes) > 0 && !listed.Has(formatGroupKind(gk)) {
			// The running graph does not have it and the instance never
			// recorded it: the instance has no child of that kind.
			continue
		}
		m, err := r.c.mgr.GetRESTMapper().RESTMapping(gk)
		if err != nil {
			continue // the kind is no longer served: nothing of it can exist
		}
		out = append(out, m.GroupVersionKind)
	}
	return out
}

// owned is an inventory entry: a child found by its ownership labels.
type owned struct {
	gvk  schema.GroupVersionKind
	meta metav1.PartialObjectMetadata
}

func (o owned) nodeID() string { return o.meta.GetLabels()[v1alpha1.LabelNodeID] }

// inventory lists the instance's children by label, from the children cache
// or (for deletion) straight from the API server.
func (r *reconciler) inventory(ctx context.Context, from client.Reader, gvks []schema.GroupVersionKind, id ownership.Instance) ([]owned, error) {
	var out []owned
	sel := ownership.ChildSelector(id)
	for _, gvk := range gvks {
		if from == client.Reader(r.c.children) && r.c.watched(gvk) {
			// The children cache answers from its instance index, without a
			// copy of every object.
			items, err := r.indexed(ctx, gvk, id)
			if err != nil {
				return nil, err
			}
			out = append(out, items...)
			continue
		}
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		src := from
		if from == client.Reader(r.c.children) && !r.c.watched(gvk) {
			// No synced informer: asking the cache would start one and
			// block until it syncs.
			src = r.c.reader
		}
		if err := src.List(ctx, list, client.MatchingLabels(sel)); err != nil {
			if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
				continue // the kind is not served (its CRD is gone): no children
			}
			return nil, fmt.Errorf("listing %s children: %w", gvk.Kind, err)
		}
		for i := range list.Items {
			if !ownership.OwnedBy(&list.Items[i], id) {
				continue // never touch an object lacking our ownership labels
			}
			out = append(out, owned{gvk: gvk, meta: list.Items[i]})
		}
	}
	return out, nil
}

// indexed lists the children of one kind of an instance from the children
// cache's instance index.
func (r *reconciler) indexed(ctx context.Context, gvk schema.GroupVersionKind, id ownership.Instance) ([]owned, error) {
	list := r.c.childList(gvk)
	if err := r.c.children.List(ctx, list, client.MatchingFields{instanceIndex: id.UID}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing %s children: %w", gvk.Kind, err)
	}
	var out []owned
	err := eachChild(list, func(u client.Object) {
		if !ownership.OwnedBy(u, id) {
			return // never touch an object lacking our ownership labels
		}
		o := owned{gvk: gvk}
		o.meta.SetNamespace(u.GetNamespace())
		o.meta.SetName(u.GetName())
		o.meta.SetUID(u.GetUID())
		o.meta.SetLabels(u.GetLabels())
		o.meta.SetDeletionTimestamp(u.GetDeletionTimestamp())
		out = append(out, o)
	})
	return out, err
}

func (r *reconciler) deleteChild(ctx context.Context, o owned) error {
	if !o.meta.GetDeletionTimestamp().IsZero() {
		return nil
	}
	// Unstructured, not PartialObjectMetadata: the typed delete path needs
	// the kind in the scheme, which generated kinds never are.
	m := &unstructured.Unstructured{}
	m.SetGroupVersionKind(o.gvk)
	m.SetNamespace(o.meta.GetNamespace())
	m.SetName(o.meta.GetName())
	uid := o.meta.GetUID()
	err := r.c.client.Delete(ctx, m, client.PropagationPolicy(metav1.DeletePropagationBackground),
		client.Preconditions{UID: &uid})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting %s %s: %w", o.gvk.Kind, objectName(m), err)
	}
	metrics.Deletes.WithLabelValues(r.k.gvk.Kind).Inc()
	r.k.applied.forget(keyOf(o.gvk, o.meta.GetNamespace(), o.meta.GetName()))
	log.FromContext(ctx).V(1).Info("deleted child", "kind", o.gvk.Kind, "name", objectName(m), "node", o.nodeID())
	return nil
}

// prune deletes children this pass did not apply: objects of resources
// removed from the RGD or excluded by includeWhen, and the surplus of shrunk
// collections. Objects of nodes that wait for an input are kept.
func (r *reconciler) prune(ctx context.Context, g *graph.Graph, inst *unstructured.Unstructured, id ownership.Instance, p *pass) error {
	items, err := r.inventory(ctx, r.c.children, r.inventoryKinds(g, inst), id)
	if err != nil {
		return err
	}
	for _, o := range items {
		if p.desired.Has(keyOf(o.gvk, o.meta.GetNamespace(), o.meta.GetName())) {
			continue
		}
		nid := o.nodeID()
		if g.Node(nid) != nil && !p.applied.Has(nid) && !p.excluded.Has(nid) {
			continue
		}
		if err := r.deleteChild(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// finalize deletes the children of a deleted instance in reverse
// topological waves, each wave gone before the next, from the label
// inventory alone (no CEL is evaluated), then releases the finalizer.
func (r *reconciler) finalize(ctx context.Context, g *graph.Graph, inst *unstructured.Unstructured) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(inst, v1alpha1.Finalizer) {
		return reconcile.Result{}, nil
	}
	id := ownership.InstanceOf(inst)
	if err := r.writeDeleting(ctx, inst); err != nil {
		return reconcile.Result{}, err
	}
	kinds := r.inventoryKinds(g, inst)
	// The children cache answers while children remain; the API server
	// confirms that none is left before the finalizer is released.
	items, err := r.inventory(ctx, r.c.children, kinds, id)
	if err != nil {
		return reconcile.Result{}, err
	}
	if len(items) == 0 {
		if items, err = r.inventory(ctx, r.c.reader, kinds, id); err != nil {
			return reconcile.Result{}, err
		}
	}
	if len(items) == 0 {
		orig := inst.DeepCopy()
		controllerutil.RemoveFinalizer(inst, v1alpha1.Finalizer)
		if err := r.c.client.Patch(ctx, inst, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(err)
		}
		return reconcile.Result{}, nil
	}
	levels := deletionLevels(g)
	wave := math.MinInt
	for _, o := range items {
		wave = max(wave, levelOf(levels, o.nodeID()))
	}
	for _, o := range items {
		if levelOf(levels, o.nodeID()) != wave {
			continue
		}
		if err := r.deleteChild(ctx, o); err != nil {
			return reconcile.Result{}, err
		}
	}
	// Deletions of watched kinds requeue through the children informers;
	// only kinds that the ApplySet annotation alone still names (resources
	// removed from the RGD before this deletion) are looked at again later.
	for _, o := range items {
		if !r.c.watched(o.gvk) {
			return reconcile.Result{RequeueAfter: unwatchedDeletionRecheck}, nil
		}
	}
	return reconcile.Result{}, nil
}

// unwatchedDeletionRecheck is how soon the deletion of a child of a kind
// without an informer is checked again.
const unwatchedDeletionRecheck = 5 * time.Second

// deletionLevels gives every node its depth in the DAG: deeper nodes (whose
// dependencies are deleted after them) go first.
func deletionLevels(g *graph.Graph) map[string]int {
	levels := map[string]int{}
	if g == nil {
		return levels
	}
	for _, id := range g.TopologicalOrder {
		n := g.Node(id)
		if n == nil {
			continue
		}
		l := 0
		for _, d := range n.Dependencies {
			l = max(l, levels[d]+1)
		}
		levels[id] = l
	}
	return levels
}

// levelOf puts children of nodes unknown to the graph (removed resources) in
// the first wave.
func levelOf(levels map[string]int, nid string) int {
	if l, ok := levels[nid]; ok {
		return l
	}
	return math.MaxInt32
}
