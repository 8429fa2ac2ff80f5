package admission

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/ownership"
	"github.com/korvid/korvid/internal/registry"
)

// Paths of the instance webhooks; the configurations installed with the
// deployment point at them, and their rules are kept in step with the RGDs.
const (
	InstanceValidatePath = "/validate-instance"
	InstanceMutatePath   = "/mutate-instance"
)

// InstanceValidator checks instances of generated kinds against their
// compiled graph.
type InstanceValidator struct {
	Registry *registry.Registry
	// ControllerUsername is the controller's identity: its writes of the
	// instance's metadata are korvid's own.
	ControllerUsername string
}

// Handle routes the request by its group/version/kind to the RGD that
// defines it and evaluates what the instance spec alone determines.
func (h *InstanceValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	gvk := schema.GroupVersionKind(req.Kind)
	rgd, obj, done := instanceRequest(ctx, h.Registry, req)
	if done != nil {
		return *done
	}
	var old map[string]any
	if req.Operation == admissionv1.Update {
		if (&unstructured.Unstructured{Object: obj}).GetDeletionTimestamp() != nil {
			return admission.Allowed("") // never block the way out (finalizer removal)
		}
		var err error
		if old, err = decodeObject(req.OldObject.Raw); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the stored instance: %w", err))
		}
	}
	if h.ControllerUsername == "" || req.UserInfo.Username != h.ControllerUsername {
		if errs := checkInstanceMetadata(rgd, gvk, req.Name, obj, old); len(errs) > 0 {
			st := apierrors.NewInvalid(gvk.GroupKind(), req.Name, errs).Status()
			return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &st}}
		}
	}
	if old != nil && apiequality.Semantic.DeepEqual(old["spec"], obj["spec"]) {
		// Only the spec feeds the graph; metadata updates (labels,
		// finalizers written by the controller) pass even when an
		// older instance no longer fits a newer RGD.
		return admission.Allowed("")
	}
	// Both steps are bounded by the request's deadline (guard sets one
	// below the webhook timeout): compiling on a cache miss, which does not
	// take a context, in bounded; evaluating CEL with the context itself, so
	// an overrun stops the evaluation instead of leaving it running.
	c, compileErrs := h.Registry.Cached(rgd), field.ErrorList(nil)
	if c == nil {
		got, err := bounded(ctx, func() compiledGraph {
			c, errs := h.Registry.Get(rgd)
			return compiledGraph{c, errs}
		})
		if err != nil {
			return overrun(gvk, req.Name, rgd.Name, err)
		}
		c, compileErrs = got.c, got.errs
	}
	if err := registry.TransientIn(compileErrs); err != nil {
		return admission.Errored(http.StatusServiceUnavailable, fmt.Errorf("checking %s %q: %w", gvk.Kind, req.Name, err))
	}
	if errs := compileErrs; len(errs) > 0 {
		return admission.Allowed("").WithWarnings(fmt.Sprintf(
			"ResourceGraphDefinition %q does not compile (%d error(s), first: %s); the instance was not checked against it", rgd.Name, len(errs), errs[0].Error()))
	}
	ferrs, err := CheckInstance(ctx, c, obj)
	if err != nil {
		return overrun(gvk, req.Name, rgd.Name, err)
	}
	if len(ferrs) > 0 {
		st := apierrors.NewInvalid(gvk.GroupKind(), req.Name, ferrs).Status()
		return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &st}}
	}
	return admission.Allowed("")
}

// compiledGraph is the outcome of Registry.Get.
type compiledGraph struct {
	c    *registry.Compiled
	errs field.ErrorList
}

// overrun answers a check that did not finish before the request's
// deadline: a server timeout the client may retry (504, reason Timeout, with
// a retry delay), never Invalid: nothing is known to be wrong with the
// instance.
func overrun(gvk schema.GroupVersionKind, name, rgdName string, err error) admission.Response {
	st := apierrors.NewTimeoutError(fmt.Sprintf("checking %s %q against ResourceGraphDefinition %q did not finish in time, retry: %v",
		gvk.Kind, name, rgdName, err), 1).Status()
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &st}}
}

// checkInstanceMetadata refuses user changes to the metadata korvid keeps on
// instances: the korvid labels (kro.run/*, internal.kro.run/* and the
// ApplySet id) must be exactly the ones korvid sets, and the
// ApplySet annotations, which tell the controller which kinds and
// namespaces to inventory, are written by the controller alone.
func checkInstanceMetadata(rgd *v1alpha1.ResourceGraphDefinition, gvk schema.GroupVersionKind, name string, obj, old map[string]any) field.ErrorList {
	u := &unstructured.Unstructured{Object: obj}
	inst := ownership.InstanceOf(u)
	inst.GVK = gvk
	if inst.Name == "" {
		inst.Name = name
	}
	want := ownership.InstanceLabels(inst, rgd.Name, string(rgd.UID))
	var errs field.ErrorList
	lp := field.NewPath("metadata", "labels")
	labels := u.GetLabels()
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if !graph.ReservedKey(k) && k != v1alpha1.LabelApplySetID {
			continue
		}
		if w, ok := want[k]; !ok || w != labels[k] {
			errs = append(errs, field.Forbidden(lp.Key(k), fmt.Sprintf("the label is korvid's; on %s %s it is set by korvid and may not be changed", gvk.Kind, name)))
		}
	}
	var before map[string]string
	if old != nil {
		before = (&unstructured.Unstructured{Object: old}).GetAnnotations()
	}
	after := u.GetAnnotations()
	ap := field.NewPath("metadata", "annotations")
	both := map[string]string{}
	maps.Copy(both, before)
	maps.Copy(both, after)
	for _, k := range slices.Sorted(maps.Keys(both)) {
		if !strings.HasPrefix(k, applySetPrefix) {
			continue
		}
		b, hadIt := before[k]
		a, hasIt := after[k]
		if hadIt != hasIt || a != b {
			errs = append(errs, field.Forbidden(ap.Key(k), fmt.Sprintf("the ApplySet annotations of %s %s are written by the korvid controller alone", gvk.Kind, name)))
		}
	}
	return errs
}

const applySetPrefix = "applyset.kubernetes.io/"

// instanceRequest finds the RGD that generates the kind of an instance
// create or update and decodes the instance. A non-nil response ends the
// request: other operations and kinds no RGD generates are allowed, lookup
// and decoding failures are errors.
func instanceRequest(ctx context.Context, r *registry.Registry, req admission.Request) (*v1alpha1.ResourceGraphDefinition, map[string]any, *admission.Response) {
	end := func(resp admission.Response) (*v1alpha1.ResourceGraphDefinition, map[string]any, *admission.Response) {
		return nil, nil, &resp
	}
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return end(admission.Allowed(""))
	}
	gvk := schema.GroupVersionKind(req.Kind)
	rgd, err := r.ForKind(ctx, gvk)
	if err != nil {
		return end(admission.Errored(http.StatusInternalServerError, err))
	}
	if rgd == nil {
		return end(admission.Allowed("no ResourceGraphDefinition generates " + gvk.String()))
	}
	obj, err := decodeObject(req.Object.Raw)
	if err != nil {
		return end(admission.Errored(http.StatusBadRequest, err))
	}
	return rgd, obj, nil
}

func decodeObject(raw []byte) (map[string]any, error) {
	if len(raw) == 0 {
		return nil, errors.New("the request carries no object")
	}
	var obj map[string]any
	// utiljson keeps integers as int64, as CEL expects them.
	if err := utiljson.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("decoding the object: %w", err)
	}
	return obj, nil
}

// CheckInstance evaluates, for every resource of the graph, what the instance
// alone determines: includeWhen, the forEach expansion and its size limit,
// and the template fields whose expressions read only `schema`. It returns an
// error, at the instance field the failing expression reads, when an
// expression fails, a rendered name or namespace is not a valid DNS name, a
// collection exceeds the limit, or a rendered value violates the target
// kind's schema. Fields that wait for other resources, or read the clock,
// are skipped.
//
// Evaluation stops when ctx ends; the error (wrapping graph.ErrInterrupted
// and the context's error) then says the check did not finish, and the
// list is to be ignored.
func CheckInstance(ctx context.Context, c *registry.Compiled, obj map[string]any) (field.ErrorList, error) {
	// What depends on the clock (time.now()) is not decided at admission:
	// it waits, like what depends on other resources.
	scope := graph.Scope{Instance: obj, NoClock: true}
	var errs field.ErrorList
	checks := checkValidators(c)
	for i, n := range c.Graph.Nodes {
		if n.External {
			continue
		}
		inc, err := n.Included(ctx, scope)
		if stop := fileEvalError(obj, n, err, &errs); stop != nil {
			return nil, stop
		}
		if err != nil || !inc {
			continue
		}
		objs, err := n.Render(ctx, scope, graph.RenderOptions{SkipPending: true})
		if stop := fileEvalError(obj, n, err, &errs); stop != nil {
			return nil, stop
		}
		if err != nil {
			continue
		}
		for k, o := range objs {
			errs = append(errs, checkRendered(c, checks[i], obj, n, k, len(objs), o)...)
		}
	}
	return errs, nil
}

// schemaRef finds the instance fields an expression reads.
var schemaRef = regexp.MustCompile(`schema\.(spec|metadata)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)`)

// instanceField returns the first instance field an expression reads, or
// spec when it reads none by a plain path.
func instanceField(src string) *field.Path {
	loc := schemaRef.FindStringSubmatchIndex(src)
	if loc == nil {
		return field.NewPath("spec")
	}
	p := field.NewPath(src[loc[2]:loc[3]])
	if loc[4] < loc[5] {
		parts := strings.Split(src[loc[4]+1:loc[5]], ".")
		if loc[1] < len(src) && src[loc[1]] == '(' {
			parts = parts[:len(parts)-1] // a method call such as .map(...), not a field
		}
		for _, part := range parts {
			p = p.Child(part)
		}
	}
	return p
}

// fileEvalError sorts an evaluation error of node n: an interrupted
// evaluation is returned (the check did not finish), a value that waits
// for other resources is no error, anything else is the instance's
// mistake and joins errs.
func fileEvalError(obj map[string]any, n *graph.Node, err error, errs *field.ErrorList) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, graph.ErrInterrupted):
		return err
	case !errors.Is(err, graph.ErrPending):
		*errs = append(*errs, exprError(obj, n, err))
	}
	return nil
}

// valueAt returns the instance's value at p for the error, or an omitted
// value when it is not a scalar.
func valueAt(obj map[string]any, p *field.Path) any {
	var cur any = obj
	for _, part := range strings.Split(p.String(), ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return field.OmitValueType{}
		}
		cur, ok = m[part]
		if !ok {
			return field.OmitValueType{}
		}
	}
	switch cur.(type) {
	case string, int64, float64, bool:
		return cur
	}
	return field.OmitValueType{}
}

func exprError(obj map[string]any, n *graph.Node, err error) *field.Error {
	var ee *graph.EvalError
	if errors.As(err, &ee) {
		p := instanceField(ee.Expression)
		return field.Invalid(p, valueAt(obj, p), fmt.Sprintf("resource %q: expression %q (%s) fails for this instance: %v",
			n.ID, ee.Expression, ee.Path, ee.Err))
	}
	return field.Invalid(field.NewPath("spec"), field.OmitValueType{}, fmt.Sprintf("resource %q: %v", n.ID, err))
}

// checkRendered validates one rendered object: its name, namespace and the
// values it got from the instance, against the target kind's schema (v;
// nil when the kind has none).
func checkRendered(c *registry.Compiled, v *validate.SchemaValidator, inst map[string]any, n *graph.Node, index, total int, obj *unstructured.Unstructured) field.ErrorList {
	var errs field.ErrorList
	// The words of an error are put together only when there is one.
	at := func(rendered string, problems []string) {
		if len(problems) == 0 {
			return
		}
		what := fmt.Sprintf("resource %q (%s)", n.ID, n.GVK.Kind)
		if total > 1 || n.Collection {
			what = fmt.Sprintf("resource %q (%s, item %d)", n.ID, n.GVK.Kind, index)
		}
		tmplPath := field.NewPath("spec", "resources").Index(n.Index).Child("template")
		src, _ := lookup(c.Template(n.Index), rendered).(string)
		p := instanceField(src)
		errs = append(errs, field.Invalid(p, valueAt(inst, p), fmt.Sprintf("%s: %s renders to an invalid value: %s (template %s: %q)",
			what, rendered, strings.Join(problems, "; "), tmplPath.String()+"."+rendered, src)))
	}
	meta, _ := obj.Object["metadata"].(map[string]any)
	for _, part := range []string{"labels", "annotations"} {
		m, _ := meta[part].(map[string]any)
		if !anyReserved(m) {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if graph.ReservedKey(k) {
				at("metadata."+part, []string{fmt.Sprintf("key %q has a prefix reserved for korvid (kro.run/, internal.kro.run/)", k)})
			}
		}
	}
	if name, ok := meta["name"].(string); ok && !plainDNSSubdomain(name) {
		at("metadata.name", validation.IsDNS1123Subdomain(name))
	}
	if ns, ok := meta["namespace"].(string); ok && n.Namespaced && !plainDNSLabel(ns) {
		at("metadata.namespace", validation.IsDNS1123Label(ns))
	}
	if v == nil || plainlyValid(v.Schema, obj.Object) {
		return errs
	}
	for _, o := range formatOverflows(v.Schema, obj.Object) {
		at(strings.TrimPrefix(o.path, "."), []string{o.problem()})
	}
	res := v.Validate(obj.Object)
	if res == nil {
		return errs
	}
	for _, e := range res.Errors {
		var ve *openapierrors.Validation
		if !errors.As(e, &ve) {
			continue // numeric formats, without a path: reported above
		}
		if ve.Code() == openapierrors.RequiredFailCode {
			continue // fields waiting for other resources were left out on purpose
		}
		at(strings.TrimPrefix(ve.Name, "."), []string{ve.Error()})
	}
	return errs
}

// anyReserved reports whether m has a key with a prefix reserved for korvid.
func anyReserved(m map[string]any) bool {
	for k := range m {
		if graph.ReservedKey(k) {
			return true
		}
	}
	return false
}

// lookup returns the template value at a dotted path (array indexes as
// numbers or [n]).
func lookup(tmpl map[string]any, path string) any {
	var cur any = tmpl
	for _, part := range strings.Split(strings.ReplaceAll(strings.ReplaceAll(path, "[", "."), "]", ""), ".") {
		if part == "" {
			continue
		}
		switch v := cur.(type) {
		case map[string]any:
			cur = v[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(v) {
				return nil
			}
			cur = v[i]
		default:
			return nil
		}
	}
	return cur
}

// InstanceDefaulter sets korvid's instance labels (ownership.InstanceLabels)
// at admission. The install calls it only for instances that already carry
// a label korvid reserves, whose values it corrects (the validator refuses
// reserved labels with other values); the others are labelled by the
// controller in the write that adds the finalizer, and are spared a webhook
// round trip on every create.
//
// The finalizer is deliberately not added here: it promises that a running
// controller will clean up before the instance goes away. Added at admission
// it would also hold instances that no controller will ever reconcile (an
// RGD that does not compile, a controller that is down or was uninstalled)
// and make them undeletable. The controller adds it before it creates the
// first child, the moment that promise becomes true.
type InstanceDefaulter struct {
	Registry *registry.Registry
}

// Handle adds or corrects the instance labels.
func (h *InstanceDefaulter) Handle(ctx context.Context, req admission.Request) admission.Response {
	gvk := schema.GroupVersionKind(req.Kind)
	rgd, obj, done := instanceRequest(ctx, h.Registry, req)
	if done != nil {
		return *done
	}
	u := &unstructured.Unstructured{Object: obj}
	inst := ownership.InstanceOf(u)
	inst.GVK = gvk
	if inst.Name == "" {
		inst.Name = req.Name
	}
	want := ownership.InstanceLabels(inst, rgd.Name, string(rgd.UID))
	if inst.Name == "" {
		// A generated name is not known yet; the controller stamps the
		// ApplySet id once it is.
		delete(want, v1alpha1.LabelApplySetID)
	}
	return admission.Patched("", labelPatch(obj, want)...)
}

// labelPatch returns the JSON patch operations that set the want labels on
// obj, or none when obj carries them already. Building the operations from
// the few labels, rather than diffing the whole re-encoded object against
// the request's, keeps the mutating webhook's cost independent of the
// instance's size.
func labelPatch(obj map[string]any, want map[string]string) []jsonpatch.JsonPatchOperation {
	meta, _ := obj["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)
	if meta == nil || labels == nil {
		all := make(map[string]any, len(labels)+len(want))
		maps.Copy(all, labels)
		for k, v := range want {
			all[k] = v
		}
		if meta == nil {
			return []jsonpatch.JsonPatchOperation{{Operation: "add", Path: "/metadata", Value: map[string]any{"labels": all}}}
		}
		return []jsonpatch.JsonPatchOperation{{Operation: "add", Path: "/metadata/labels", Value: all}}
	}
	var ops []jsonpatch.JsonPatchOperation
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if cur, ok := labels[k].(string); ok && cur == want[k] {
			continue
		}
		// "add" replaces an existing member (RFC 6902, 4.1).
		ops = append(ops, jsonpatch.JsonPatchOperation{Operation: "add", Path: "/metadata/labels/" + pointerEscape(k), Value: want[k]})
	}
	return ops
}

// pointerEscape escapes a key for a JSON pointer (RFC 6901).
func pointerEscape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}
