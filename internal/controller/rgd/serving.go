package rgd

import (
	"context"
	"encoding/json"
	"fmt"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	revisions "github.com/korvid/korvid/api/revisions/v1alpha1"
	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/controller/instance"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/resolver"
)

// compile compiles an RGD (as of a revision) and tells a graph that does not
// compile from an API server that could not be asked: a transient error
// (a *resolver.TransientError) comes back instead of field errors.
func (r *Reconciler) compile(rgd *v1alpha1.ResourceGraphDefinition) (*graph.Graph, field.ErrorList, error) {
	rec := resolver.Record(r.Resolver)
	g, errs := graph.Compile(rgd, rec, r.GraphOptions)
	if err := rec.Err(); err != nil {
		return nil, nil, err
	}
	return g, errs, nil
}

// revisionKinds are the kinds of the templates of every kept revision of an
// RGD: the kinds its instances may have children of. They are read from the
// snapshots without compiling them, so that they are known whatever state
// the revisions are in.
func revisionKinds(rgd *v1alpha1.ResourceGraphDefinition, revs []revisions.GraphRevision) []schema.GroupKind {
	seen := map[schema.GroupKind]bool{}
	var out []schema.GroupKind
	add := func(spec *v1alpha1.ResourceGraphDefinitionSpec) {
		for _, res := range spec.Resources {
			if res == nil || res.ExternalRef != nil || len(res.Template.Raw) == 0 {
				continue
			}
			var tm metav1.TypeMeta
			if err := json.Unmarshal(res.Template.Raw, &tm); err != nil || tm.Kind == "" {
				continue
			}
			gv, err := schema.ParseGroupVersion(tm.APIVersion)
			if err != nil {
				continue
			}
			gk := schema.GroupKind{Group: gv.Group, Kind: tm.Kind}
			if !seen[gk] {
				seen[gk] = true
				out = append(out, gk)
			}
		}
	}
	add(&rgd.Spec)
	for i := range revs {
		add(&revs[i].Spec.Snapshot.Spec)
	}
	return out
}

// servedKind returns the version of the RGD's kind its generated CRD
// stores, or false when the CRD does not exist (then no instance exists).
func (r *Reconciler) servedKind(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition) (schema.GroupVersionKind, bool, error) {
	gk := groupKind(rgd)
	if gk.Kind == "" {
		return schema.GroupVersionKind{}, false, nil
	}
	list := &extv1.CustomResourceDefinitionList{}
	if err := r.Reader.List(ctx, list, client.MatchingLabels{v1alpha1.LabelOwned: "true", v1alpha1.LabelRGDName: rgd.Name}); err != nil {
		return schema.GroupVersionKind{}, false, fmt.Errorf("listing generated CRDs: %w", err)
	}
	for i := range list.Items {
		crd := &list.Items[i]
		if crd.Spec.Group != gk.Group || crd.Spec.Names.Kind != gk.Kind {
			continue
		}
		if v := graph.StorageVersion(crd); v != nil {
			return gk.WithVersion(v.Name), true, nil
		}
	}
	return schema.GroupVersionKind{}, false, nil
}

// keepDeletable makes sure a controller runs for the RGD's kind while its
// newest revision cannot be used (failed is that revision's name, message
// why), so its instances stay deletable: the controller already running, or
// one started from the newest verified revision, or, when none compiles,
// one working from the label inventory alone. Instances that are not being
// deleted are held back and told why, unless keepStatus: then they are held
// with their status as it is (see Controllers.Block).
func (r *Reconciler) keepDeletable(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, revs []revisions.GraphRevision, failed, message string, keepStatus bool) error {
	gk := groupKind(rgd)
	if gk.Kind == "" {
		return nil
	}
	r.Instances.SetInventory(gk, revisionKinds(rgd, revs))
	if g := r.Instances.Graph(gk); g != nil && g.RGDName == rgd.Name {
		return r.Instances.Block(ctx, gk, rgd.Name, failed, message, keepStatus)
	}
	gvk, ok, err := r.servedKind(ctx, rgd)
	if err != nil || !ok {
		return err
	}
	for i := range revs {
		rev := &revs[i]
		if rev.Name == failed || !rev.Verified() {
			continue
		}
		g, errs, err := r.compile(snapshotRGD(rgd, rev))
		if err != nil {
			return err
		}
		if len(errs) > 0 || g.Instance.GVK != gvk {
			continue
		}
		log.FromContext(ctx).Info("Running instances from the last verified graph revision", "revision", rev.Name, "failed", failed)
		return r.Instances.EnsureBlocked(ctx, g, failed, message, keepStatus)
	}
	log.FromContext(ctx).Info("Running instances from their label inventory alone", "failed", failed)
	return r.Instances.EnsureBlocked(ctx, instance.InventoryOnly(gvk, rgd.Name, rgd.UID), failed, message, keepStatus)
}

// instancesLeft lists (metadata only, from the API server) the instances of
// the RGD's kind that still exist.
func (r *Reconciler) instancesLeft(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition) ([]metav1.PartialObjectMetadata, schema.GroupVersionKind, error) {
	gvk, ok, err := r.servedKind(ctx, rgd)
	if err != nil || !ok {
		return nil, gvk, err
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := r.Reader.List(ctx, list); err != nil {
		if kerrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil, gvk, nil
		}
		return nil, gvk, fmt.Errorf("listing instances of %s: %w", gvk.Kind, err)
	}
	return list.Items, gvk, nil
}

// releaseInstances removes korvid's finalizer from the instances left behind
// by an RGD deleted with kro.run/allow-delete-with-instances: they are no
// longer managed, their children stay where they are, and deleting them
// later does not hang.
func (r *Reconciler) releaseInstances(ctx context.Context, gvk schema.GroupVersionKind, items []metav1.PartialObjectMetadata) error {
	for i := range items {
		it := &items[i]
		if !containsString(it.Finalizers, v1alpha1.Finalizer) {
			continue
		}
		var keep []string
		for _, f := range it.Finalizers {
			if f != v1alpha1.Finalizer {
				keep = append(keep, f)
			}
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"finalizers": keep, "resourceVersion": it.ResourceVersion,
		}})
		if err != nil {
			return fmt.Errorf("encoding a finalizer patch: %w", err)
		}
		obj := &metav1.PartialObjectMetadata{}
		obj.SetGroupVersionKind(gvk)
		obj.SetNamespace(it.Namespace)
		obj.SetName(it.Name)
		if err := r.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("releasing %s %s: %w", gvk.Kind, types.NamespacedName{Namespace: it.Namespace, Name: it.Name}, err)
		}
		log.FromContext(ctx).Info("Released an instance of a deleted ResourceGraphDefinition", "kind", gvk.Kind, "namespace", it.Namespace, "name", it.Name)
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
