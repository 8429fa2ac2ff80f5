package instance

import (
	"errors"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/korvid/korvid/api/v1alpha1"
)

// unreadStatusChange reports whether an update of a child changed its
// status alone, and none of the status fields the graph's expressions read
// (readyWhen, other resources' templates, the instance's status): the
// instance's next reconcile would find its readiness, its inputs and its
// drift as they were, so the update does not reconcile it. Most updates of
// a Deployment by kube-controller-manager on its way to available are of
// this kind. When in doubt (the graph is not known, the child is one of a
// collection, an expression reads it whole, its template sets a status that
// a change may have drifted from, it does not convert) the update
// reconciles.
func (c *Controllers) unreadStatusChange(gvk schema.GroupVersionKind, oldObj, newObj any) bool {
	o, ok1 := metaOf(oldObj)
	n, ok2 := metaOf(newObj)
	if !ok1 || !ok2 {
		return false
	}
	id := n.GetLabels()[v1alpha1.LabelNodeID]
	if id == "" || o.GetLabels()[v1alpha1.LabelNodeID] != id {
		return false
	}
	k := c.kindOf(n)
	if k == nil {
		return false
	}
	g := k.graph.Load()
	if g == nil {
		return false
	}
	a, err1 := objectContent(gvk, oldObj)
	b, err2 := objectContent(gvk, newObj)
	if err1 != nil || err2 != nil {
		return false
	}
	return onlyStatusChanged(a, b) && !g.WritesStatus(id) && g.ReadsEqual(id, a, b)
}

var errNotAnObject = errors.New("not an API object")

// objectContent is a child as the unstructured content expressions read.
func objectContent(gvk schema.GroupVersionKind, obj any) (map[string]any, error) {
	ro, ok := obj.(runtime.Object)
	if !ok {
		return nil, errNotAnObject
	}
	u, err := asUnstructured(gvk, ro)
	if err != nil {
		return nil, err
	}
	return u.Object, nil
}

// onlyStatusChanged reports whether two versions of an object differ in
// their status and resource version alone.
func onlyStatusChanged(a, b map[string]any) bool {
	skip := map[string]bool{"status": true, "metadata": true}
	if !equalExcept(a, b, skip) {
		return false
	}
	am, _ := a["metadata"].(map[string]any)
	bm, _ := b["metadata"].(map[string]any)
	return equalExcept(am, bm, map[string]bool{"resourceVersion": true, "managedFields": true})
}

// equalExcept compares two maps key by key, leaving out the keys in skip.
func equalExcept(a, b map[string]any, skip map[string]bool) bool {
	for k, v := range a {
		if skip[k] {
			continue
		}
		w, ok := b[k]
		if !ok || !apiequality.Semantic.DeepEqual(v, w) {
			return false
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok && !skip[k] {
			return false
		}
	}
	return true
}
