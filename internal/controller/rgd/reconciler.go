// Package rgd reconciles ResourceGraphDefinitions: it compiles each one with
// the same options as the admission webhook (the webhook may be bypassed or
// down), creates or updates the generated CRD, starts or hot-swaps the
// instance controller of the kind, and publishes the outcome in status.
package rgd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/controller/instance"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/trust"
)

// Condition reasons and messages of ResourceGraphDefinitions besides
// InvalidResourceGraph, spelled as kro spells them where kro has them.
const (
	ReasonValid           = "Valid"
	ReasonCRDConflict     = "CRDOwnedElsewhere"
	ReasonBreakingChanges = "BreakingSchemaChanges"
	ReasonNotEstablished  = "NotEstablished"
	ReasonKindReady       = "Ready"
	ReasonKindFailed      = "Failed"
	ReasonRunning         = "Running"
	ReasonFailedToStart   = "FailedToStart"
	ReasonReady           = "Ready"

	MessageValid      = "resource graph and schema are valid"
	MessageRunning    = "controller is running"
	ReasonWatchFailed = "WatchFailed"
)

// kindReadyMessage is kro's KindReady message for an established kind.
func kindReadyMessage(kind string) string {
	return fmt.Sprintf("kind %s has been accepted and ready", kind)
}

// FieldManager is the field manager of the generated CRDs.
const FieldManager = "kro.run/resource-graph-definition"

// unknownKindRetry re-compiles an RGD that references a kind the cluster
// does not serve yet, in case discovery lags behind the CRD watch.
const unknownKindRetry = 10 * time.Second

// Reconciler reconciles ResourceGraphDefinitions.
type Reconciler struct {
	Client client.Client
	// Reader reads generated CRDs straight from the API server.
	Reader       client.Reader
	Resolver     graph.SchemaResolver
	GraphOptions graph.Options
	Instances    *instance.Controllers
	// AllowCRDDeletion deletes the generated CRD with its RGD.
	AllowCRDDeletion bool
	// RevisionsToKeep is how many graph revisions are kept per RGD
	// (DefaultRevisionsToKeep when unset); the newest verified one is never deleted.
	RevisionsToKeep         int
	MaxConcurrentReconciles int
	// Trust re-runs the webhook's trust checks (the webhook may have been
	// bypassed): no shadowed API, the policy, and, with an Authorizer, the
	// access review against the author recorded by the webhook (Signer).
	Trust     *trust.Checker
	Signer    *trust.Signer
	Discovery discovery.DiscoveryInterface
}

// SetupWithManager registers the controller: it watches RGDs and
// CustomResourceDefinitions (the informer the schema resolver shares), so that a generated CRD becoming
// Established, or a kind an RGD needs appearing, triggers a reconcile.
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	return builder.ControllerManagedBy(mgr).
		Named("resourcegraphdefinition").
		For(&v1alpha1.ResourceGraphDefinition{}, builder.WithPredicates(specOrMetaChanged)).
		Watches(&extv1.CustomResourceDefinition{}, handler.EnqueueRequestsFromMapFunc(r.crdToRGDs)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

var specOrMetaChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return o.GetGeneration() != n.GetGeneration() ||
			!maps.Equal(o.GetAnnotations(), n.GetAnnotations()) ||
			len(o.GetFinalizers()) != len(n.GetFinalizers()) ||
			o.GetDeletionTimestamp().IsZero() != n.GetDeletionTimestamp().IsZero()
	},
}

// crdToRGDs maps a CRD event to the RGD owning the CRD and to every inactive
// RGD (one of them may have waited for this kind).
func (r *Reconciler) crdToRGDs(ctx context.Context, o client.Object) []reconcile.Request {
	var out []reconcile.Request
	seen := map[string]bool{}
	if name := o.GetLabels()[v1alpha1.LabelRGDName]; name != "" && o.GetLabels()[v1alpha1.LabelOwned] == "true" {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
		seen[name] = true
	}
	list := &v1alpha1.ResourceGraphDefinitionList{}
	if err := r.Client.List(ctx, list); err != nil {
		return out
	}
	for i := range list.Items {
		rgd := &list.Items[i]
		if rgd.Status.State != v1alpha1.ResourceGraphDefinitionStateActive && !seen[rgd.Name] {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: rgd.Name}})
		}
	}
	return out
}

// Reconcile compiles an RGD and makes its kind served and reconciled.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (res reconcile.Result, err error) {
	rgd := &v1alpha1.ResourceGraphDefinition{}
	if err := r.Client.Get(ctx, req.NamespacedName, rgd); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !rgd.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, rgd)
	}
	if !controllerutil.ContainsFinalizer(rgd, v1alpha1.Finalizer) {
		orig := rgd.DeepCopy()
		controllerutil.AddFinalizer(rgd, v1alpha1.Finalizer)
		if err := r.Client.Patch(ctx, rgd, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}
	orig := rgd.DeepCopy()
	st := &rgd.Status
	revs, err := r.ensureRevision(ctx, rgd)
	if err != nil {
		r.set(rgd, ConditionGraphRevisionsResolved, false, ReasonRevisionError, err.Error())
		return reconcile.Result{}, errors.Join(err, r.writeStatus(ctx, orig, rgd))
	}
	newest := &revs[0]
	// The newest revision is compiled; instances follow it only if it
	// compiles. An API server that could not be asked says nothing about the
	// graph: nothing is recorded and the RGD is retried with backoff.
	g, errs, err := r.compile(snapshotRGD(rgd, newest))
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("compiling graph revision %s: %w", newest.Name, err)
	}
	if len(errs) == 0 {
		errs = r.checkTrust(ctx, rgd, g)
		if err := internalErrors(errs); err != nil {
			// The API server could not answer; that says nothing about the RGD.
			return reconcile.Result{}, err
		}
	}
	if len(errs) > 0 {
		g = nil
	}
	if err := r.recordCompile(ctx, newest, g, errs); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.pruneRevisions(ctx, revs); err != nil {
		return reconcile.Result{}, err
	}
	if len(errs) > 0 {
		msg := fmt.Sprintf("graph revision %s failed to compile; instances are held back until a new revision compiles", newest.Name)
		r.set(rgd, ConditionGraphRevisionsResolved, false, ReasonRevisionFailed, msg)
		// An RGD refused only because its author cannot be verified (yet:
		// one kro stored, before someone vouches for it) has nothing wrong
		// in its graph, and kro would keep its instances ACTIVE: they are
		// held without touching their status.
		if err := r.keepDeletable(ctx, rgd, revs, newest.Name, compileMessage(errs), onlyAuthorUnverified(errs)); err != nil {
			return reconcile.Result{}, errors.Join(err, r.writeStatus(ctx, orig, rgd))
		}
	} else {
		r.set(rgd, ConditionGraphRevisionsResolved, true, ReasonRevisionResolved, fmt.Sprintf("revision %d compiled and active", newest.Spec.Revision))
	}
	if len(errs) > 0 {
		msgs := make([]string, 0, len(errs))
		retry := false
		for _, e := range errs {
			msgs = append(msgs, e.Error())
			if e.Origin == graph.OriginUnknownKind {
				retry = true
			}
		}
		r.set(rgd, v1alpha1.ConditionGraphAccepted, false, v1alpha1.ReasonInvalidResourceGraph, strings.Join(msgs, "; "))
		st.State = v1alpha1.ResourceGraphDefinitionStateInactive
		r.setReady(rgd)
		if err := r.writeStatus(ctx, orig, rgd); err != nil {
			return reconcile.Result{}, err
		}
		if retry {
			return reconcile.Result{RequeueAfter: unknownKindRetry}, nil
		}
		return reconcile.Result{}, nil
	}
	r.set(rgd, v1alpha1.ConditionGraphAccepted, true, ReasonValid, MessageValid)
	st.TopologicalOrder = append([]string(nil), g.TopologicalOrder...)
	st.Resources = resourceInformation(g)

	established, reason, msg, err := r.ensureCRD(ctx, rgd, g)
	if err != nil {
		r.set(rgd, v1alpha1.ConditionKindReady, false, ReasonKindFailed, err.Error())
		st.State = v1alpha1.ResourceGraphDefinitionStateInactive
		r.setReady(rgd)
		return reconcile.Result{}, errors.Join(err, r.writeStatus(ctx, orig, rgd))
	}
	r.set(rgd, v1alpha1.ConditionKindReady, established, reason, msg)
	if !established && reason == ReasonBreakingChanges {
		// The CRD keeps the previous schema. A controller already running
		// keeps serving the previous graph; after a restart one is started
		// from the previous verified revision so instances stay deletable.
		if cur := r.Instances.Graph(groupKind(rgd)); cur == nil || cur.RGDName != rgd.Name {
			if err := r.keepDeletable(ctx, rgd, revs, newest.Name, msg, false); err != nil {
				return reconcile.Result{}, errors.Join(err, r.writeStatus(ctx, orig, rgd))
			}
		}
	}
	if !established {
		st.State = v1alpha1.ResourceGraphDefinitionStateInactive
		r.setReady(rgd)
		// The CRD watch brings us back once it is Established.
		return reconcile.Result{}, r.writeStatus(ctx, orig, rgd)
	}
	r.Instances.SetInventory(groupKind(rgd), revisionKinds(rgd, revs))
	if err := r.Instances.Ensure(ctx, g); err != nil {
		r.set(rgd, v1alpha1.ConditionControllerReady, false, ReasonFailedToStart, err.Error())
		st.State = v1alpha1.ResourceGraphDefinitionStateInactive
		r.setReady(rgd)
		return reconcile.Result{}, errors.Join(err, r.writeStatus(ctx, orig, rgd))
	}
	// Informers sync in the background; one that does not is stopped and
	// its kind reported here, while the instance controller keeps running.
	pending, werr := r.Instances.WatchProblems(g)
	if werr != nil {
		r.set(rgd, v1alpha1.ConditionControllerReady, false, ReasonWatchFailed, werr.Error())
		st.State = v1alpha1.ResourceGraphDefinitionStateInactive
		r.setReady(rgd)
		return reconcile.Result{RequeueAfter: watchRecheck}, r.writeStatus(ctx, orig, rgd)
	}
	r.set(rgd, v1alpha1.ConditionControllerReady, true, ReasonRunning, MessageRunning)
	st.State = v1alpha1.ResourceGraphDefinitionStateActive
	r.setReady(rgd)
	res = reconcile.Result{}
	if pending {
		res.RequeueAfter = watchRecheck
	}
	return res, r.writeStatus(ctx, orig, rgd)
}

// watchRecheck is how soon an RGD whose child informers are syncing or
// failed is looked at again.
const watchRecheck = 15 * time.Second

// checkTrust repeats what the webhook checks beyond compiling: the kind does
// not shadow an API the cluster serves otherwise, the policy allows every
// kind, and the recorded author may do everything the RGD makes korvid do.
func (r *Reconciler) checkTrust(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, g *graph.Graph) field.ErrorList {
	var errs field.ErrorList
	if r.Discovery != nil {
		errs = append(errs, trust.CheckServed(ctx, r.Discovery, r.Reader, rgd.Name, g.Instance)...)
	}
	if r.Trust == nil {
		return errs
	}
	var author *authenticationv1.UserInfo
	if r.Trust.Authorizer != nil {
		u, err := r.Signer.Verify(rgd)
		if err != nil {
			errs = append(errs, field.Forbidden(authorPath, fmt.Sprintf(
				"the author of this ResourceGraphDefinition cannot be verified (%v), so korvid cannot check that the author may do what it asks; apply it again through korvid's admission webhook", err)))
		} else {
			author = &u
		}
	}
	return append(errs, r.Trust.Check(ctx, author, rgd, g)...)
}

// authorPath is where checkTrust reports an author it cannot verify.
var authorPath = field.NewPath("metadata", "annotations").Key(trust.AnnotationAuthor)

// onlyAuthorUnverified reports whether errs say only that the RGD's author
// cannot be verified.
func onlyAuthorUnverified(errs field.ErrorList) bool {
	for _, e := range errs {
		if e.Type != field.ErrorTypeForbidden || e.Field != authorPath.String() {
			return false
		}
	}
	return len(errs) > 0
}

// internalErrors joins the errors that come from failing to ask the API
// server rather than from the RGD.
func internalErrors(errs field.ErrorList) error {
	var out []error
	for _, e := range errs {
		if e.Type == field.ErrorTypeInternal {
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

func (r *Reconciler) set(rgd *v1alpha1.ResourceGraphDefinition, typ string, ok bool, reason, msg string) {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	r.setStatus(rgd, typ, s, reason, msg)
}

func (r *Reconciler) setStatus(rgd *v1alpha1.ResourceGraphDefinition, typ string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&rgd.Status.Conditions, metav1.Condition{
		Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: rgd.Generation,
	})
}

// setReady sets Ready to the AND of the other conditions: a copy of the
// first one that is not True, or True with reason Ready and, as in kro, an
// empty message.
func (r *Reconciler) setReady(rgd *v1alpha1.ResourceGraphDefinition) {
	for _, t := range []string{ConditionGraphRevisionsResolved, v1alpha1.ConditionGraphAccepted, v1alpha1.ConditionKindReady, v1alpha1.ConditionControllerReady} {
		c := meta.FindStatusCondition(rgd.Status.Conditions, t)
		if c == nil {
			r.set(rgd, v1alpha1.ConditionReady, false, "Pending"+t, t+" has not been evaluated yet")
			return
		}
		if c.Status != metav1.ConditionTrue {
			r.setStatus(rgd, v1alpha1.ConditionReady, c.Status, c.Reason, c.Message)
			return
		}
	}
	r.set(rgd, v1alpha1.ConditionReady, true, ReasonReady, "")
}

func (r *Reconciler) writeStatus(ctx context.Context, orig, rgd *v1alpha1.ResourceGraphDefinition) error {
	if apiequality.Semantic.DeepEqual(orig.Status, rgd.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, rgd, client.MergeFrom(orig)); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("writing status: %w", err))
	}
	return nil
}

// ensureCRD creates or updates the generated CRD. It never takes over a CRD
// that is not labelled as this RGD's, and refuses breaking schema changes
// unless the RGD allows them. It reports whether the CRD is Established.
func (r *Reconciler) ensureCRD(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, g *graph.Graph) (bool, string, string, error) {
	want := g.CRD.DeepCopy()
	existing := &extv1.CustomResourceDefinition{}
	err := r.Reader.Get(ctx, client.ObjectKey{Name: want.Name}, existing)
	switch {
	case kerrors.IsNotFound(err):
	case err != nil:
		return false, "", "", fmt.Errorf("reading CRD %s: %w", want.Name, err)
	default:
		l := existing.Labels
		if !trust.OwnedBy(existing, rgd.Name) {
			owner := l[v1alpha1.LabelRGDName]
			if owner == "" {
				owner = "no ResourceGraphDefinition"
			} else {
				owner = "ResourceGraphDefinition " + owner
			}
			return false, ReasonCRDConflict, fmt.Sprintf("CustomResourceDefinition %s already exists and belongs to %s; it is not taken over", want.Name, owner), nil
		}
		if changes := graph.BreakingChanges(existing, want); len(changes) > 0 && rgd.Annotations[v1alpha1.AnnotationAllowBreakingChanges] != "true" {
			said := make([]string, len(changes))
			for i, c := range changes {
				said[i] = c.String()
			}
			return false, ReasonBreakingChanges, fmt.Sprintf("the new schema breaks existing instances (annotate the ResourceGraphDefinition with %s: \"true\" to allow): %s",
				v1alpha1.AnnotationAllowBreakingChanges, strings.Join(said, "; ")), nil
		}
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(want)
	if err != nil {
		return false, "", "", fmt.Errorf("encoding CRD %s: %w", want.Name, err)
	}
	obj := &unstructured.Unstructured{Object: u}
	obj.SetGroupVersionKind(extv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	unstructured.RemoveNestedField(obj.Object, "status")
	unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return false, "", "", fmt.Errorf("applying CRD %s: %w", want.Name, err)
	}
	applied := &extv1.CustomResourceDefinition{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, applied); err != nil {
		return false, "", "", fmt.Errorf("decoding CRD %s: %w", want.Name, err)
	}
	for _, c := range applied.Status.Conditions {
		if c.Type == extv1.Established && c.Status == extv1.ConditionTrue {
			return true, ReasonKindReady, kindReadyMessage(want.Spec.Names.Kind), nil
		}
	}
	return false, ReasonNotEstablished, fmt.Sprintf("waiting for CustomResourceDefinition %s to be established", want.Name), nil
}

// groupKind is the generated kind of an RGD, read from its spec (it is
// immutable), so deletion works even when the RGD no longer compiles.
func groupKind(rgd *v1alpha1.ResourceGraphDefinition) schema.GroupKind {
	gvk, _ := rgd.InstanceGVK()
	return gvk.GroupKind()
}

// finalize deletes the RGD once its instances are gone. While instances
// exist (being deleted, or left by a deletion that bypassed the webhook) a
// controller keeps running for the kind so that their children are deleted
// and their finalizers released, whatever state the RGD's revisions are in;
// the RGD is looked at again until none is left. With
// kro.run/allow-delete-with-instances the remaining instances are released
// instead: their finalizer is removed and their children are left in place.
// With CRD deletion, the CRD is deleted first and the API server deletes the
// instances; the CRD watch brings the RGD back once it is gone.
func (r *Reconciler) finalize(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(rgd, v1alpha1.Finalizer) {
		return reconcile.Result{}, nil
	}
	gk := groupKind(rgd)
	if r.AllowCRDDeletion && gk.Kind != "" {
		list := &extv1.CustomResourceDefinitionList{}
		if err := r.Reader.List(ctx, list, client.MatchingLabels{v1alpha1.LabelOwned: "true", v1alpha1.LabelRGDName: rgd.Name}); err != nil {
			return reconcile.Result{}, fmt.Errorf("listing generated CRDs: %w", err)
		}
		remaining := false
		for i := range list.Items {
			crd := &list.Items[i]
			if crd.Spec.Group != gk.Group || crd.Spec.Names.Kind != gk.Kind {
				continue
			}
			remaining = true
			if !crd.DeletionTimestamp.IsZero() {
				continue
			}
			if err := r.Client.Delete(ctx, crd); client.IgnoreNotFound(err) != nil {
				return reconcile.Result{}, fmt.Errorf("deleting CRD %s: %w", crd.Name, err)
			}
			log.FromContext(ctx).Info("deleting generated CRD", "crd", crd.Name)
		}
		if remaining {
			if err := r.keepDeletingInstances(ctx, rgd); err != nil {
				return reconcile.Result{}, err
			}
			return reconcile.Result{RequeueAfter: instancesRecheck}, nil
		}
	}
	if gk.Kind != "" {
		items, gvk, err := r.instancesLeft(ctx, rgd)
		if err != nil {
			return reconcile.Result{}, err
		}
		if len(items) > 0 {
			if rgd.Annotations[v1alpha1.AnnotationAllowDeleteWithInstances] != "true" {
				if err := r.keepDeletingInstances(ctx, rgd); err != nil {
					return reconcile.Result{}, err
				}
				log.FromContext(ctx).V(1).Info("Waiting for instances before deleting the ResourceGraphDefinition", "kind", gvk.Kind, "remaining", len(items))
				return reconcile.Result{RequeueAfter: instancesRecheck}, nil
			}
			// Stop first: a running controller would put the finalizer back.
			if g := r.Instances.Graph(gk); g != nil && g.RGDName == rgd.Name {
				r.Instances.Stop(ctx, gk)
			}
			if err := r.releaseInstances(ctx, gvk, items); err != nil {
				return reconcile.Result{}, err
			}
		}
	}
	if g := r.Instances.Graph(gk); g != nil && g.RGDName == rgd.Name {
		r.Instances.Stop(ctx, gk)
	}
	if err := r.deleteRevisions(ctx, rgd); err != nil {
		return reconcile.Result{}, err
	}
	orig := rgd.DeepCopy()
	controllerutil.RemoveFinalizer(rgd, v1alpha1.Finalizer)
	if err := r.Client.Patch(ctx, rgd, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("removing finalizer: %w", err))
	}
	return reconcile.Result{}, nil
}

// instancesRecheck is how often a deleted RGD checks whether its instances are gone.
const instancesRecheck = 2 * time.Second

// keepDeletingInstances makes sure a controller runs for the kind of a
// deleted RGD, so that its instances' children are deleted and their
// finalizers released: the one running, or one started from the newest
// revision that compiles, or from the label inventory alone.
func (r *Reconciler) keepDeletingInstances(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition) error {
	gk := groupKind(rgd)
	if g := r.Instances.Graph(gk); g != nil && g.RGDName == rgd.Name {
		return nil
	}
	revs, err := r.listRevisions(ctx, rgd)
	if err != nil {
		return err
	}
	return r.keepDeletable(ctx, rgd, revs, "", "the ResourceGraphDefinition is being deleted", false)
}
