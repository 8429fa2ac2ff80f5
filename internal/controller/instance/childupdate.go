package instance

import (
	"reflect"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/korvid/korvid/api/v1alpha1"
)

// unreadStatusChange reports whether an update of a child changed its
// status alone, and none of the status fields the graph's expressions read
// (readyWhen, other resources' templates, the instance's status): the
// instance's next reconcile would find its readiness, its inputs and its
// drift as they were, so the update does not reconcile it. Updates of a
// Deployment's status by kube-controller-manager that do not change what
// readyWhen reads are of this kind. When in doubt (the graph is not known,
// the child is one of a collection, an expression reads it whole, its
// template sets a status that a change may have drifted from) the update
// reconciles.
func (c *Controllers) unreadStatusChange(oldObj, newObj any) bool {
	o, ok1 := metaOf(oldObj)
	n, ok2 := metaOf(newObj)
	if !ok1 || !ok2 || o.GetGeneration() != n.GetGeneration() {
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
	if g == nil || g.WritesStatus(id) {
		return false
	}
	a, b, ok := statusesIfAloneChanged(oldObj, newObj)
	return ok && g.ReadsEqual(id, a, b)
}

// statusesIfAloneChanged returns, when two versions of an object differ in
// their status (and resource version) alone, each version's status as
// {"status": ...}; ok is false when anything else differs or the objects
// are not both typed or both unstructured. A typed object is compared as
// it is and only its status converted, since converting whole objects on
// every update would cost more than the reconciles it saves.
func statusesIfAloneChanged(oldObj, newObj any) (a, b map[string]any, ok bool) {
	if ou, isU := oldObj.(*unstructured.Unstructured); isU {
		nu, isU := newObj.(*unstructured.Unstructured)
		if !isU || !onlyStatusChanged(ou.Object, nu.Object) {
			return nil, nil, false
		}
		return ou.Object, nu.Object, true
	}
	ov, nv := reflect.ValueOf(oldObj), reflect.ValueOf(newObj)
	if ov.Kind() != reflect.Pointer || nv.Type() != ov.Type() || ov.Elem().Kind() != reflect.Struct {
		return nil, nil, false
	}
	oc, os := withoutStatus(ov.Elem())
	nc, ns := withoutStatus(nv.Elem())
	// reflect.DeepEqual is the faster comparison; where it is stricter than
	// semantic equality (quantities, say) the update merely reconciles.
	if !reflect.DeepEqual(oc.Interface(), nc.Interface()) {
		return nil, nil, false
	}
	if !os.IsValid() {
		return map[string]any{}, map[string]any{}, true
	}
	sa, err1 := runtime.DefaultUnstructuredConverter.ToUnstructured(os.Addr().Interface())
	sb, err2 := runtime.DefaultUnstructuredConverter.ToUnstructured(ns.Addr().Interface())
	if err1 != nil || err2 != nil {
		return nil, nil, false
	}
	return map[string]any{"status": sa}, map[string]any{"status": sb}, true
}

// withoutStatus returns a copy of a typed object's struct with its status,
// resource version and managed fields cleared, and a copy of the status
// (invalid when the type has none).
func withoutStatus(v reflect.Value) (reflect.Value, reflect.Value) {
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	var status reflect.Value
	if f := c.FieldByName("Status"); f.IsValid() && f.Kind() == reflect.Struct {
		status = reflect.New(f.Type()).Elem()
		status.Set(f)
		f.SetZero()
	}
	if f := c.FieldByName("ObjectMeta"); f.IsValid() {
		if m, ok := f.Addr().Interface().(*metav1.ObjectMeta); ok {
			m.ResourceVersion, m.ManagedFields = "", nil
		}
	}
	return c, status
}

// onlyStatusChanged reports whether two versions of an unstructured object
// differ in their status and resource version alone.
func onlyStatusChanged(a, b map[string]any) bool {
	if !equalExcept(a, b, map[string]bool{"status": true, "metadata": true}) {
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
