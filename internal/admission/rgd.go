package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/registry"
	"github.com/korvid/korvid/internal/trust"
)

var (
	rgdGroupKind     = schema.GroupKind{Group: v1alpha1.GroupVersion.Group, Kind: "ResourceGraphDefinition"}
	rgdGroupResource = schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: "resourcegraphdefinitions"}
)

// +kubebuilder:webhook:path=/validate-kro-run-v1alpha1-resourcegraphdefinition,mutating=false,failurePolicy=fail,sideEffects=None,groups=kro.run,resources=resourcegraphdefinitions,verbs=create;update;delete,versions=v1alpha1,name=vresourcegraphdefinition.kro.run,admissionReviewVersions=v1,timeoutSeconds=10
// +kubebuilder:webhook:path=/mutate-kro-run-v1alpha1-resourcegraphdefinition,mutating=true,failurePolicy=fail,sideEffects=None,groups=kro.run,resources=resourcegraphdefinitions,verbs=create;update,versions=v1alpha1,name=mresourcegraphdefinition.kro.run,admissionReviewVersions=v1,timeoutSeconds=10

// RGDValidator validates ResourceGraphDefinitions.
type RGDValidator struct {
	// Registry compiles RGDs with the live resolver and the shared options.
	Registry *registry.Registry
	// MaxCollectionSize is quoted in warnings about unbounded collections.
	MaxCollectionSize int
	// Cluster reads RGDs and CustomResourceDefinition metadata (the
	// manager's cache). Nil skips the check for kinds served by others.
	Cluster client.Reader
	// Instances lists instances when an RGD is deleted (uncached). Nil skips
	// the deletion check.
	Instances client.Reader
	// Discovery finds APIs the cluster already serves; nil skips that check.
	Discovery discovery.DiscoveryInterface
	// Trust applies the policy and the access review (the same checks the
	// controller repeats against the recorded author).
	Trust *trust.Checker
}

var _ admission.Validator[*v1alpha1.ResourceGraphDefinition] = (*RGDValidator)(nil)

// ValidateCreate compiles the RGD and checks the kind, policy and permissions.
func (v *RGDValidator) ValidateCreate(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition) (admission.Warnings, error) {
	return v.validate(ctx, nil, rgd)
}

// ValidateUpdate validates a changed spec like a new RGD and refuses breaking
// schema changes unless the RGD is annotated to allow them. Updates that
// leave the spec alone (metadata, finalizers) are not re-checked, so an RGD
// whose dependencies disappeared can still be cleaned up.
func (v *RGDValidator) ValidateUpdate(ctx context.Context, old, rgd *v1alpha1.ResourceGraphDefinition) (admission.Warnings, error) {
	if apiequality.Semantic.DeepEqual(old.Spec, rgd.Spec) {
		return nil, nil
	}
	return v.validate(ctx, old, rgd)
}

// ValidateDelete refuses to delete an RGD while instances of its kind exist
// that are not being deleted, unless it is annotated
// kro.run/allow-delete-with-instances: "true". Instances already being
// deleted do not hold the RGD back (`kubectl delete -f` of a folder with an
// RGD and its instances, or GitOps pruning): the RGD's finalizer waits for
// them. With the annotation the remaining instances are released: korvid
// removes its finalizer from them and leaves their children in place.
func (v *RGDValidator) ValidateDelete(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition) (admission.Warnings, error) {
	if v.Instances == nil {
		return nil, nil
	}
	gvk, ok := rgd.InstanceGVK()
	if !ok {
		return nil, nil
	}
	const page, examples = 500, 3
	var live []metav1.PartialObjectMetadata
	total, more := 0, false
	opts := []client.ListOption{client.Limit(page)}
	for {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		err := v.Instances.List(ctx, list, opts...)
		switch {
		case meta.IsNoMatchError(err) || apierrors.IsNotFound(err):
			return nil, nil // the kind is not served: no instances
		case err != nil:
			return nil, apierrors.NewInternalError(fmt.Errorf("counting the instances of %s: %w", gvk.Kind, err))
		}
		for i := range list.Items {
			if list.Items[i].DeletionTimestamp == nil {
				total++
				if len(live) < examples {
					live = append(live, list.Items[i])
				}
			}
		}
		// One page with a live instance is enough to decide; the rest is
		// only counted when the API server says how many remain.
		if list.Continue == "" {
			break
		}
		if total > 0 {
			if rc := list.RemainingItemCount; rc != nil {
				total += int(*rc)
			} else {
				more = true
			}
			break
		}
		opts = []client.ListOption{client.Limit(page), client.Continue(list.Continue)}
	}
	if total == 0 {
		return nil, nil
	}
	count := fmt.Sprintf("%d", total)
	if more {
		count = fmt.Sprintf("at least %d", total)
	}
	if rgd.Annotations[v1alpha1.AnnotationAllowDeleteWithInstances] == "true" {
		return admission.Warnings{fmt.Sprintf("deleting ResourceGraphDefinition %q while %s instance(s) of %s exist (allowed by annotation %s): korvid stops managing them and removes its finalizer from them; their resources are left in place",
			rgd.Name, count, gvk.Kind, v1alpha1.AnnotationAllowDeleteWithInstances)}, nil
	}
	names := make([]string, 0, len(live))
	for i := range live {
		names = append(names, types.NamespacedName{Namespace: live[i].Namespace, Name: live[i].Name}.String())
	}
	kubectlName := strings.ToLower(gvk.Kind) + "." + gvk.Group
	return nil, apierrors.NewForbidden(rgdGroupResource, rgd.Name, fmt.Errorf(
		"%s instance(s) of %s (%s) still exist, for example %s; delete them first (kubectl delete %s --all --all-namespaces; the ResourceGraphDefinition may be deleted once they are being deleted) or annotate the ResourceGraphDefinition with %s=\"true\" to delete it anyway and leave them, and their resources, unmanaged",
		count, gvk.Kind, gvk.GroupVersion(), strings.Join(names, ", "), kubectlName, v1alpha1.AnnotationAllowDeleteWithInstances))
}

type compileResult struct {
	c    *registry.Compiled
	errs field.ErrorList
}

func (v *RGDValidator) validate(ctx context.Context, old, rgd *v1alpha1.ResourceGraphDefinition) (admission.Warnings, error) {
	res, err := bounded(ctx, func() compileResult {
		c, errs := v.Registry.Compile(rgd)
		return compileResult{c, errs}
	})
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("compiling ResourceGraphDefinition %q: %w", rgd.Name, err))
	}
	if err := registry.TransientIn(res.errs); err != nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("compiling ResourceGraphDefinition %q: %v", rgd.Name, err))
	}
	if len(res.errs) > 0 {
		return nil, apierrors.NewInvalid(rgdGroupKind, rgd.Name, res.errs)
	}
	c := res.c
	var errs field.ErrorList
	errs = append(errs, v.checkKind(ctx, rgd, c)...)
	if v.Trust != nil {
		req, err := admission.RequestFromContext(ctx)
		if err != nil {
			errs = append(errs, field.InternalError(field.NewPath("spec", "resources"), fmt.Errorf("no admission request to check the author's permissions: %w", err)))
		} else {
			errs = append(errs, v.Trust.Check(ctx, &req.UserInfo, rgd, c.Graph)...)
		}
	}
	warns := admission.Warnings(warnings(c, v.MaxCollectionSize))
	if old != nil {
		w, e := v.checkBreaking(old, rgd, c)
		warns = append(warns, w...)
		errs = append(errs, e...)
	}
	if err := ctx.Err(); err != nil && len(errs) == 0 {
		return warns, apierrors.NewInternalError(fmt.Errorf("%w: %w", errTimeout, err))
	}
	if len(errs) > 0 {
		return warns, apierrors.NewInvalid(rgdGroupKind, rgd.Name, errs)
	}
	return warns, nil
}

// checkKind denies a kind already served by another RGD, by a CRD korvid
// does not own for this RGD, or by a built-in or aggregated API.
func (v *RGDValidator) checkKind(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, c *registry.Compiled) field.ErrorList {
	if v.Cluster == nil {
		return nil
	}
	gvk := c.Graph.Instance.GVK
	kindPath := field.NewPath("spec", "schema", "kind")
	var errs field.ErrorList
	var list v1alpha1.ResourceGraphDefinitionList
	if err := v.Cluster.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return field.ErrorList{field.InternalError(kindPath, fmt.Errorf("listing ResourceGraphDefinitions: %w", err))}
	}
	for i := range list.Items {
		other := &list.Items[i]
		ogvk, ok := other.InstanceGVK()
		if !ok || other.Name == rgd.Name || ogvk.GroupKind() != gvk.GroupKind() {
			continue
		}
		errs = append(errs, field.Invalid(kindPath, gvk.Kind, fmt.Sprintf("kind %s of group %s is already served by ResourceGraphDefinition %q", gvk.Kind, gvk.Group, other.Name)))
	}
	if v.Discovery != nil {
		errs = append(errs, trust.CheckServed(ctx, v.Discovery, v.Cluster, rgd.Name, c.Graph.Instance)...)
	}
	return errs
}

// checkBreaking compares the instance schemas of the stored and the new
// version.
func (v *RGDValidator) checkBreaking(old, rgd *v1alpha1.ResourceGraphDefinition, c *registry.Compiled) (admission.Warnings, field.ErrorList) {
	oc, errs := v.Registry.Get(old)
	if len(errs) > 0 || oc == nil {
		// The stored version does not compile: no instance was validated
		// against it by this generation, and there is nothing to compare.
		return nil, nil
	}
	changes := graph.BreakingChanges(oc.Graph.CRD, c.Graph.CRD)
	if len(changes) == 0 {
		return nil, nil
	}
	if rgd.Annotations[v1alpha1.AnnotationAllowBreakingChanges] == "true" {
		var w admission.Warnings
		for _, ch := range changes {
			w = append(w, fmt.Sprintf("spec.schema.%s: breaking change allowed by annotation %s: %s; existing instances may no longer be valid",
				ch.Path, v1alpha1.AnnotationAllowBreakingChanges, ch.Description))
		}
		return w, nil
	}
	var out field.ErrorList
	for _, ch := range changes {
		out = append(out, field.Forbidden(field.NewPath("spec", "schema").Child(ch.Path), fmt.Sprintf(
			"breaking change to the instance schema: %s; existing instances may become invalid; annotate the ResourceGraphDefinition with %s=\"true\" to make the change anyway",
			ch.Description, v1alpha1.AnnotationAllowBreakingChanges)))
	}
	return nil, out
}

// RGDDefaulter fills the defaults of an RGD's schema and records its author.
// The CRD declares the same defaults; the webhook applies them as well so
// that objects sent through older CRD versions, and dry-run tools that only
// call the webhook, see the same result. It patches the request's object
// as sent (a typed round trip would turn absent schemaless fields into nulls).
//
// The author record (trust.AnnotationAuthor) names the user who wrote the
// current spec, signed so that the controller can re-run the access review
// against that user when the webhook is bypassed. It is written on create,
// on every spec change and whenever the stored record does not verify; a
// metadata-only update keeps the stored record, whatever the request says.
// The controller's own writes keep the record they carry.
type RGDDefaulter struct {
	// Signer signs author records; nil records none.
	Signer *trust.Signer
	// ControllerUsername is the controller's identity.
	ControllerUsername string
}

var _ admission.Handler = (*RGDDefaulter)(nil)

// Handle defaults and records the author of a created or updated RGD.
func (d *RGDDefaulter) Handle(_ context.Context, req admission.Request) admission.Response {
	obj, err := decodeObject(req.Object.Raw)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if spec, _ := obj["spec"].(map[string]any); spec != nil {
		if s, _ := spec["schema"].(map[string]any); s != nil {
			// The typed defaults, written into the map so that fields this
			// version does not know are kept.
			g, _ := s["group"].(string)
			sc, _ := s["scope"].(string)
			d := v1alpha1.ResourceGraphDefinition{Spec: v1alpha1.ResourceGraphDefinitionSpec{Schema: &v1alpha1.Schema{Group: g, Scope: v1alpha1.ResourceScope(sc)}}}
			d.DefaultSchema()
			s["group"], s["scope"] = d.Spec.Schema.Group, string(d.Spec.Schema.Scope)
		}
	}
	if err := d.recordAuthor(req, obj); err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, b)
}

func (d *RGDDefaulter) recordAuthor(req admission.Request, obj map[string]any) error {
	if d.Signer == nil || d.ControllerUsername != "" && req.UserInfo.Username == d.ControllerUsername {
		return nil
	}
	u := &unstructured.Unstructured{Object: obj}
	rgd := &v1alpha1.ResourceGraphDefinition{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, rgd); err != nil {
		return fmt.Errorf("decoding the ResourceGraphDefinition: %w", err)
	}
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		old := &v1alpha1.ResourceGraphDefinition{}
		if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
			return fmt.Errorf("decoding the stored ResourceGraphDefinition: %w", err)
		}
		if oldHash, err1 := trust.SpecHash(old); err1 == nil {
			if newHash, err2 := trust.SpecHash(rgd); err2 == nil && oldHash == newHash {
				if _, err := d.Signer.Verify(old); err == nil {
					setAnnotation(u, trust.AnnotationAuthor, old.Annotations[trust.AnnotationAuthor])
					return nil
				}
			}
		}
	}
	v, err := d.Signer.Sign(req.UserInfo, rgd)
	if err != nil {
		return fmt.Errorf("recording the author: %w", err)
	}
	setAnnotation(u, trust.AnnotationAuthor, v)
	return nil
}

func setAnnotation(o metav1.Object, k, v string) {
	a := o.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[k] = v
	o.SetAnnotations(a)
}
