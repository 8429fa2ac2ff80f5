package instance

import (
	"reflect"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/korvid/korvid/api/v1alpha1"
)

// unreadChange reports whether an update of a child changed nothing
// its instance's next reconcile would act on: only its status and
// annotations that korvid does not set, and none of the fields the graph's
// expressions read (readyWhen, other resources' templates, the instance's
// status). Its readiness, its inputs and its drift are then as they were,
// so the update does not reconcile the instance. Updates of a Deployment by
// kube-controller-manager (its status, its revision annotation) that do not
// change what readyWhen reads are of this kind. When in doubt (the graph is
// not known, the child is one of a collection, an expression reads it
// whole, its template sets a status that a change may have drifted from)
// the update reconciles.
func (k *kindController) unreadChange(oldObj, newObj any) bool {
	o, ok1 := metaOf(oldObj)
	n, ok2 := metaOf(newObj)
	if !ok1 || !ok2 || o.GetGeneration() != n.GetGeneration() {
		return false
	}
	id := n.GetLabels()[v1alpha1.LabelNodeID]
	if id == "" || o.GetLabels()[v1alpha1.LabelNodeID] != id {
		return false
	}
	g := k.graph.Load()
	if g == nil || g.WritesStatus(id) {
		return false
	}
	for key := range changedKeys(o.GetAnnotations(), n.GetAnnotations()) {
		if strings.Contains(key, "kro.run/") || g.WritesMetadataKey(id, "annotations", key) {
			return false
		}
	}
	// What expressions read is compared first: a change they see
	// reconciles whatever else changed, and the costlier comparison of the
	// rest is left to the updates they do not see.
	a, b, aloneChanged, ok := readableParts(oldObj, newObj)
	return ok && g.ReadsEqual(id, a, b) && aloneChanged()
}

// changedKeys returns the keys whose values differ between two maps.
func changedKeys(a, b map[string]string) map[string]bool {
	out := map[string]bool{}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out[k] = true
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out[k] = true
		}
	}
	return out
}

// readableParts returns what expressions may read of two versions of an
// object among the parts an update may change without reconciling: for a
// typed object {"status": ..., "metadata": {"annotations": ...}}, for an
// unstructured one the whole object. aloneChanged reports whether the
// versions differ in their status, annotations and resource version alone
// (the rest, which a and b may leave out, is then the same in both). ok is
// false when the objects are not both typed or both unstructured. A typed
// object is compared as it is and only its status converted, since
// converting whole objects on every update would cost more than the
// reconciles it saves.
func readableParts(oldObj, newObj any) (a, b map[string]any, aloneChanged func() bool, ok bool) {
	if ou, isU := oldObj.(*unstructured.Unstructured); isU {
		nu, isU := newObj.(*unstructured.Unstructured)
		if !isU {
			return nil, nil, nil, false
		}
		return ou.Object, nu.Object, func() bool { return onlyStatusChanged(ou.Object, nu.Object) }, true
	}
	ov, nv := reflect.ValueOf(oldObj), reflect.ValueOf(newObj)
	if ov.Kind() != reflect.Pointer || nv.Type() != ov.Type() || ov.Elem().Kind() != reflect.Struct {
		return nil, nil, nil, false
	}
	oc, os, oa := withoutStatus(ov.Elem())
	nc, ns, na := withoutStatus(nv.Elem())
	// reflect.DeepEqual is the faster comparison; where it is stricter than
	// semantic equality (quantities, say) the update merely reconciles.
	aloneChanged = func() bool { return reflect.DeepEqual(oc.Interface(), nc.Interface()) }
	a, b = readable(oa), readable(na)
	if !os.IsValid() {
		return a, b, aloneChanged, true
	}
	sa, err1 := runtime.DefaultUnstructuredConverter.ToUnstructured(os.Addr().Interface())
	sb, err2 := runtime.DefaultUnstructuredConverter.ToUnstructured(ns.Addr().Interface())
	if err1 != nil || err2 != nil {
		return nil, nil, nil, false
	}
	a["status"], b["status"] = sa, sb
	return a, b, aloneChanged, true
}

// readable is the annotations of an object as expressions see them.
func readable(annotations map[string]string) map[string]any {
	ann := make(map[string]any, len(annotations))
	for k, v := range annotations {
		ann[k] = v
	}
	return map[string]any{"metadata": map[string]any{"annotations": ann}}
}

// withoutStatus returns a copy of a typed object's struct with its status,
// annotations, resource version and managed fields cleared, a copy of the
// status (invalid when the type has none) and the annotations.
func withoutStatus(v reflect.Value) (reflect.Value, reflect.Value, map[string]string) {
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	var status reflect.Value
	if f := c.FieldByName("Status"); f.IsValid() && f.Kind() == reflect.Struct {
		status = reflect.New(f.Type()).Elem()
		status.Set(f)
		f.SetZero()
	}
	var annotations map[string]string
	if f := c.FieldByName("ObjectMeta"); f.IsValid() {
		if m, ok := f.Addr().Interface().(*metav1.ObjectMeta); ok {
			annotations = m.Annotations
			m.ResourceVersion, m.ManagedFields, m.Annotations = "", nil, nil
		}
	}
	return c, status, annotations
}

// onlyStatusChanged reports whether two versions of an unstructured object
// differ in their status, annotations and resource version alone.
func onlyStatusChanged(a, b map[string]any) bool {
	if !equalExcept(a, b, map[string]bool{"status": true, "metadata": true}) {
		return false
	}
	am, _ := a["metadata"].(map[string]any)
	bm, _ := b["metadata"].(map[string]any)
	return equalExcept(am, bm, map[string]bool{"resourceVersion": true, "managedFields": true, "annotations": true})
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
