package instance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
)

// Condition reasons and messages of instances, spelled as kro spells them so
// that tools and tests written against kro read the same conditions.
const (
	ReasonManaged          = "Managed"
	ReasonResolved         = "Resolved"
	ReasonResolutionFailed = "ResolutionFailed"
	ReasonAllReady         = "AllResourcesReady"
	ReasonNotReady         = "NotReady"
	ReasonResourceDeleting = "ResourceDeleting"
	ReasonUnderDeletion    = "UnderDeletion"
	ReasonSuspended        = "ReconciliationSuspended"
	ReasonManagementFailed = "ManagementFailed"
	ReasonReady            = "Ready"
	MessageManaged         = "instance is properly managed with finalizers and labels"
	MessageResolved        = "runtime graph created and all resources resolved"
	MessageAllReady        = "all resources are created and ready"
	messageFailedPrefix    = "resource reconciliation failed: "
	messageAwaitingPrefix  = "awaiting resource readiness: "
	messageDeletingPrefix  = "waiting for terminating resources: "
	messageSuspended       = "reconciliation is suspended by the kro.run/reconcile annotation"
	messageUnderDeletion   = "deleting the resources of the instance"
)

// condition is a built-in condition of an instance; buildConditions stamps
// its generation and transition time.
func condition(typ string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message}
}

func joinMessages(ms []nodeMessage) string {
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		if m.id == "" {
			parts = append(parts, m.msg)
		} else {
			parts = append(parts, m.id+": "+m.msg)
		}
	}
	return strings.Join(parts, "; ")
}

// conditions derives the state and conditions of a pass. As in kro, the
// graph is resolved once it is loaded (inputs that are not there yet make
// resources wait, they do not fail resolution); every failure, conflict,
// wait and terminating child is reported on ResourcesReady, and Ready
// mirrors the first condition that is not True (True with an empty message
// otherwise).
func conditions(p *pass) (string, []metav1.Condition) {
	managed := condition(v1alpha1.ConditionInstanceManaged, metav1.ConditionTrue, ReasonManaged, MessageManaged)
	resolved := condition(v1alpha1.ConditionGraphResolved, metav1.ConditionTrue, ReasonResolved, MessageResolved)
	ready := condition(v1alpha1.ConditionResourcesReady, metav1.ConditionTrue, ReasonAllReady, MessageAllReady)
	failed := append(append([]nodeMessage{}, p.conflicts...), p.failures...)
	switch {
	case len(failed) > 0:
		ready = condition(v1alpha1.ConditionResourcesReady, metav1.ConditionFalse, ReasonNotReady, messageFailedPrefix+joinMessages(failed))
	case len(p.deleting) > 0:
		ready = condition(v1alpha1.ConditionResourcesReady, metav1.ConditionFalse, ReasonResourceDeleting, messageDeletingPrefix+joinMessages(p.deleting))
	case len(p.pending) > 0 || len(p.notReady) > 0:
		ready = condition(v1alpha1.ConditionResourcesReady, metav1.ConditionFalse, ReasonNotReady, messageAwaitingPrefix+joinMessages(append(append([]nodeMessage{}, p.notReady...), p.pending...)))
	}
	cs := []metav1.Condition{managed, resolved, ready}
	top := readyOf(cs)
	state := v1alpha1.InstanceStateActive
	switch {
	case len(failed) > 0:
		state = v1alpha1.InstanceStateError
	case top.Status != metav1.ConditionTrue:
		state = v1alpha1.InstanceStateInProgress
	}
	return state, append(cs, top)
}

// readyOf is the Ready condition summarising the others: a copy of the first
// one that is not True, or True with reason Ready and an empty message.
func readyOf(cs []metav1.Condition) metav1.Condition {
	for _, c := range cs {
		if c.Type != v1alpha1.ConditionReady && c.Status != metav1.ConditionTrue {
			return condition(v1alpha1.ConditionReady, c.Status, c.Reason, c.Message)
		}
	}
	return condition(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReady, "")
}

// previousConditions returns the conditions an instance carries, in their
// order, without Ready.
func previousConditions(status map[string]any) []metav1.Condition {
	cs := conditionsOf(status)
	meta.RemoveStatusCondition(&cs, v1alpha1.ConditionReady)
	return cs
}

// conditionsOf reads the conditions of an instance's status leniently, as
// anyone allowed to write the status may have left them: fields that are not
// strings read as empty, items without a type are left out.
func conditionsOf(status map[string]any) []metav1.Condition {
	list, _ := status["conditions"].([]any)
	out := make([]metav1.Condition, 0, len(list))
	for _, item := range list {
		m, _ := item.(map[string]any)
		if c := conditionOf(m); c.Type != "" {
			out = append(out, c)
		}
	}
	return out
}

func conditionOf(m map[string]any) metav1.Condition {
	str := func(k string) string { s, _ := m[k].(string); return s }
	c := condition(str("type"), metav1.ConditionStatus(str("status")), str("reason"), str("message"))
	if t, err := time.Parse(time.RFC3339, str("lastTransitionTime")); err == nil {
		c.LastTransitionTime = metav1.NewTime(t)
	}
	return c
}

// buildConditions stamps conditions with the instance's generation, keeps
// the transition time of those whose status did not change since before,
// and renders them for the instance's status.
func buildConditions(before []metav1.Condition, gen int64, cs []metav1.Condition) []any {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	out := make([]any, 0, len(cs))
	for _, c := range cs {
		c.ObservedGeneration, c.LastTransitionTime = gen, now
		if p := meta.FindStatusCondition(before, c.Type); p != nil && p.Status == c.Status && !p.LastTransitionTime.IsZero() {
			c.LastTransitionTime = p.LastTransitionTime
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&c)
		if err != nil {
			panic(fmt.Sprintf("encoding condition %s: %v", c.Type, err)) // a metav1.Condition always encodes
		}
		out = append(out, u)
	}
	return out
}

// writeStatus projects schema.status, sets state and conditions, and writes
// the status only when it changed. It returns the new state.
//
// Expressions of schema.status see the instance with the built-in conditions
// of this pass, so runtime.condition(schema, 'ResourcesReady') reads them even
// when the author's conditions replace them on the wire. Author-defined
// status.conditions (runtime.newCondition) replace the built-ins once they
// evaluate; until then the built-ins are written.
func (r *reconciler) writeStatus(ctx context.Context, g *graph.Graph, inst *unstructured.Unstructured, p *pass) (string, error) {
	old, status := statusOf(inst)
	gen := inst.GetGeneration()
	_, prelim := conditions(p)
	projected, _, perr := g.ProjectStatus(ctx, graph.Scope{
		Instance: withConditions(inst.Object, buildConditions(conditionsOf(old), gen, prelim)),
		Observed: p.scope.Observed,
	})
	if perr != nil {
		p.failures = append(p.failures, nodeMessage{"status", perr.Error()})
	}
	projected, err := normalize(projected)
	if err != nil {
		p.failures = append(p.failures, nodeMessage{"status", err.Error()})
	}
	var custom []any
	if v, ok := projected["conditions"]; ok {
		var errs []string
		custom, errs = customConditions(old, gen, v)
		for _, e := range errs {
			p.failures = append(p.failures, nodeMessage{"status", e})
		}
	}
	for k, v := range projected {
		if k == "state" || k == "conditions" {
			continue
		}
		status[k] = v
	}
	state, cs := conditions(p)
	status["state"] = state
	if custom != nil {
		status["conditions"] = custom
	} else {
		status["conditions"] = buildConditions(conditionsOf(old), gen, cs)
	}
	return state, r.patchStatus(ctx, inst, old, status, cs[len(cs)-1].Message)
}

// statusOf returns the status of an instance and a copy of it to change.
func statusOf(inst *unstructured.Unstructured) (old, status map[string]any) {
	old, _, _ = unstructured.NestedMap(inst.Object, "status")
	if status = runtime.DeepCopyJSON(old); status == nil {
		status = map[string]any{}
	}
	return old, status
}

// withConditions returns a shallow copy of an instance whose
// status.conditions is replaced.
func withConditions(obj map[string]any, conds []any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		out[k] = v
	}
	st := map[string]any{}
	if old, ok := obj["status"].(map[string]any); ok {
		for k, v := range old {
			st[k] = v
		}
	}
	st["conditions"] = conds
	out["status"] = st
	return out
}

// customConditions renders the evaluated status.conditions of an instance:
// each item needs a non-empty type (unique in the list) and a status of
// True, False or Unknown; lastTransitionTime is kept while the status of a
// type does not change. Invalid items are reported and left out; nil means
// the value is not a list at all.
func customConditions(old map[string]any, gen int64, v any) ([]any, []string) {
	list, ok := v.([]any)
	if !ok {
		return nil, []string{fmt.Sprintf("status.conditions must be a list of conditions built with runtime.newCondition, got %T", v)}
	}
	var errs []string
	seen := map[string]bool{}
	cs := make([]metav1.Condition, 0, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Sprintf("status.conditions[%d] must be a condition built with runtime.newCondition, got %T", i, item))
			continue
		}
		c := conditionOf(m)
		switch {
		case c.Type == "":
			errs = append(errs, fmt.Sprintf("status.conditions[%d].type must be a non-empty string", i))
			continue
		case c.Status != metav1.ConditionTrue && c.Status != metav1.ConditionFalse && c.Status != metav1.ConditionUnknown:
			errs = append(errs, fmt.Sprintf("status.conditions[%d].status must be True, False or Unknown, got %q", i, c.Status))
			continue
		case seen[c.Type]:
			errs = append(errs, fmt.Sprintf("status.conditions[%d]: condition type %q appears more than once", i, c.Type))
			continue
		}
		seen[c.Type] = true
		cs = append(cs, c)
	}
	return buildConditions(conditionsOf(old), gen, cs), errs
}

// writeDeleting marks a deleted instance DELETING: as in kro,
// ResourcesReady (and so Ready) turns Unknown with reason UnderDeletion.
func (r *reconciler) writeDeleting(ctx context.Context, inst *unstructured.Unstructured) error {
	old, status := statusOf(inst)
	status["state"] = v1alpha1.InstanceStateDeleting
	cs := previousConditions(old)
	meta.SetStatusCondition(&cs, condition(v1alpha1.ConditionResourcesReady, metav1.ConditionUnknown, ReasonUnderDeletion, messageUnderDeletion))
	status["conditions"] = buildConditions(conditionsOf(old), inst.GetGeneration(), append(cs, readyOf(cs)))
	return r.patchStatus(ctx, inst, old, status, messageUnderDeletion)
}

// writeNotManaged records that the finalizer and labels could not be set:
// InstanceManaged (and so Ready) turns False with reason ManagementFailed.
func (r *reconciler) writeNotManaged(ctx context.Context, inst *unstructured.Unstructured, cause error) error {
	old, status := statusOf(inst)
	status["state"] = v1alpha1.InstanceStateError
	msg := "finalizer/labeling failed: " + cause.Error()
	cs := previousConditions(old)
	meta.SetStatusCondition(&cs, condition(v1alpha1.ConditionInstanceManaged, metav1.ConditionFalse, ReasonManagementFailed, msg))
	status["conditions"] = buildConditions(conditionsOf(old), inst.GetGeneration(), append(cs, readyOf(cs)))
	return r.patchStatus(ctx, inst, old, status, msg)
}

// writeSuspended records that reconciliation of an instance is suspended
// (kro.run/reconcile: suspended, or the legacy disabled): ResourcesReady and
// Ready turn False with reason ReconciliationSuspended; the state and the
// other conditions are left as they are.
func (r *reconciler) writeSuspended(ctx context.Context, inst *unstructured.Unstructured) error {
	old, status := statusOf(inst)
	if _, ok := status["state"]; !ok {
		status["state"] = v1alpha1.InstanceStateInProgress
	}
	cs := previousConditions(old)
	meta.SetStatusCondition(&cs, condition(v1alpha1.ConditionResourcesReady, metav1.ConditionFalse, ReasonSuspended, messageSuspended))
	status["conditions"] = buildConditions(conditionsOf(old), inst.GetGeneration(), append(cs, readyOf(cs)))
	return r.patchStatus(ctx, inst, old, status, messageSuspended)
}

func (r *reconciler) patchStatus(ctx context.Context, inst *unstructured.Unstructured, old, status map[string]any, msg string) error {
	if sameJSON(old, status) {
		return nil
	}
	oldState, _ := old["state"].(string)
	newState, _ := status["state"].(string)
	// The merge patch is computed from the status alone, not from two
	// copies of the whole instance.
	data, err := json.Marshal(map[string]any{"status": mergePatch(old, status)})
	if err != nil {
		return fmt.Errorf("computing the status patch: %w", err)
	}
	updated := &unstructured.Unstructured{}
	updated.SetGroupVersionKind(inst.GroupVersionKind())
	updated.SetNamespace(inst.GetNamespace())
	updated.SetName(inst.GetName())
	if err := r.c.writer.PatchStatus(ctx, updated, types.MergePatchType, data); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("writing instance status: %w", err))
	}
	r.wrote(updated)
	inst.Object = updated.Object
	// An event marks a change of state. The first state of a new instance
	// (IN_PROGRESS, set by its first reconcile) is not news: it costs every
	// instance a write and tells nothing its creation did not.
	if oldState != newState && (oldState != "" || newState != v1alpha1.InstanceStateInProgress) {
		typ := corev1.EventTypeNormal
		if newState == v1alpha1.InstanceStateError {
			typ = corev1.EventTypeWarning
		}
		r.c.recorder.Eventf(updated, nil, typ, stateReason(newState), "Reconcile", "state %s: %s", newState, msg)
	}
	return nil
}

func stateReason(s string) string {
	switch s {
	case v1alpha1.InstanceStateActive:
		return "Active"
	case v1alpha1.InstanceStateError:
		return "Error"
	case v1alpha1.InstanceStateDeleting:
		return "Deleting"
	}
	return "InProgress"
}

// normalize turns evaluated values into plain JSON values (int64, float64,
// string, bool, maps and slices).
func normalize(m map[string]any) (map[string]any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding status: %w", err)
	}
	out := map[string]any{}
	if err := utiljson.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding status: %w", err)
	}
	return out, nil
}

// mergePatch returns the JSON merge patch (RFC 7386) that turns old into
// updated: the keys whose values differ (maps compared key by key, lists
// replaced whole) and null for the keys updated lacks. It walks the two
// values once, where diffing their encodings costs two encodings and two
// decodings.
func mergePatch(old, updated map[string]any) map[string]any {
	out := map[string]any{}
	for k, nv := range updated {
		if ov, ok := old[k]; ok {
			if eq, ok := equalJSON(ov, nv); ok && eq {
				continue
			}
			om, ok1 := ov.(map[string]any)
			nm, ok2 := nv.(map[string]any)
			if ok1 && ok2 && om != nil && nm != nil {
				out[k] = mergePatch(om, nm)
				continue
			}
		}
		out[k] = nv
	}
	for k := range old {
		if _, ok := updated[k]; !ok {
			out[k] = nil
		}
	}
	return out
}

// sameJSON compares two JSON values as their encodings would, so that int64
// and float64 of the same number compare equal. Plain JSON values (what the
// cache and the status computation hold) are compared in place; anything
// else by its encoding.
func sameJSON(a, b map[string]any) bool {
	if eq, ok := equalJSON(a, b); ok {
		return eq
	}
	return sameEncoding(a, b)
}

// equalJSON compares plain JSON values; ok is false when it met another type.
func equalJSON(a, b any) (eq, ok bool) {
	switch x := a.(type) {
	case map[string]any:
		y, isMap := b.(map[string]any)
		if !isMap {
			return false, b == nil || isPlain(b)
		}
		if (x == nil) != (y == nil) || len(x) != len(y) {
			return false, true
		}
		for k, xv := range x {
			yv, found := y[k]
			if !found {
				return false, true
			}
			if eq, ok := equalJSON(xv, yv); !ok || !eq {
				return eq, ok
			}
		}
		return true, true
	case []any:
		y, isList := b.([]any)
		if !isList {
			return false, b == nil || isPlain(b)
		}
		if (x == nil) != (y == nil) || len(x) != len(y) {
			return false, true
		}
		for i := range x {
			if eq, ok := equalJSON(x[i], y[i]); !ok || !eq {
				return eq, ok
			}
		}
		return true, true
	case nil:
		return b == nil, b == nil || isPlain(b)
	case string, bool:
		if !isPlain(b) {
			return false, false
		}
		return a == b, true
	}
	xf, okA := number(a)
	yf, okB := number(b)
	if !okA || !isPlain(b) {
		return false, false
	}
	return okB && xf == yf, true
}

// isPlain reports whether v is a plain JSON value.
func isPlain(v any) bool {
	switch v.(type) {
	case nil, map[string]any, []any, string, bool, int64, float64:
		return true
	}
	return false
}

func sameEncoding(a, b map[string]any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err := errors.Join(err1, err2); err != nil {
		return false
	}
	var va, vb any
	if json.Unmarshal(ja, &va) != nil || json.Unmarshal(jb, &vb) != nil {
		return false
	}
	ja, _ = json.Marshal(va)
	jb, _ = json.Marshal(vb)
	return string(ja) == string(jb)
}
