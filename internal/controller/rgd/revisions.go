package rgd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	revisions "github.com/korvid/korvid/api/revisions/v1alpha1"
	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
)

// Condition and reasons of the RGD's graph revisions.
const (
	// ConditionGraphRevisionsResolved is True when the newest graph revision compiled.
	ConditionGraphRevisionsResolved = "GraphRevisionsResolved"

	ReasonRevisionResolved = "Resolved"
	ReasonRevisionFailed   = "Failed"
	ReasonRevisionError    = "GraphRevisionError"
)

// DefaultRevisionsToKeep is the retention when Reconciler.RevisionsToKeep is unset.
const DefaultRevisionsToKeep = 5

// RevisionName names the n-th graph revision of an RGD.
func RevisionName(rgdName string, n int64) string {
	return fmt.Sprintf("%s-r%05d", rgdName, n)
}

// specHash is the SHA-256 of the JSON encoding of an RGD spec.
func specHash(spec *v1alpha1.ResourceGraphDefinitionSpec) (string, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return "", fmt.Errorf("encoding the spec: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// listRevisions returns the graph revisions of an RGD, newest first. It
// reads from the API server: revision numbers must not come from a stale
// cache. Revisions belong to an RGD by spec.snapshot.name, as in kro, so
// revisions kro wrote (whatever their labels) are found and continued.
func (r *Reconciler) listRevisions(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition) ([]revisions.GraphRevision, error) {
	list := &revisions.GraphRevisionList{}
	if err := r.Reader.List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing graph revisions: %w", err)
	}
	out := make([]revisions.GraphRevision, 0, len(list.Items))
	for i := range list.Items {
		if list.Items[i].Spec.Snapshot.Name == rgd.Name {
			out = append(out, list.Items[i])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Revision > out[j].Spec.Revision })
	return out, nil
}

// ensureRevision returns the graph revisions of the RGD, newest first, after
// taking a new revision when the spec differs from the newest one's.
func (r *Reconciler) ensureRevision(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition) ([]revisions.GraphRevision, error) {
	revs, err := r.listRevisions(ctx, rgd)
	if err != nil {
		return nil, err
	}
	hash, err := specHash(&rgd.Spec)
	if err != nil {
		return nil, err
	}
	if len(revs) > 0 {
		if rgd.Status.LastIssuedRevision < revs[0].Spec.Revision {
			rgd.Status.LastIssuedRevision = revs[0].Spec.Revision
		}
		newest, err := specHash(&revs[0].Spec.Snapshot.Spec)
		if err != nil {
			return nil, err
		}
		if newest == hash {
			return revs, nil
		}
	}
	// Numbering continues from the highest revision issued, even when older
	// revisions were pruned or deleted with a previous incarnation.
	n := rgd.Status.LastIssuedRevision + 1
	if len(revs) > 0 && revs[0].Spec.Revision >= n {
		n = revs[0].Spec.Revision + 1
	}
	rev := revisions.GraphRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: RevisionName(rgd.Name, n),
			Labels: map[string]string{
				v1alpha1.LabelOwned:             "true",
				v1alpha1.LabelRGDName:           rgd.Name,
				v1alpha1.LabelRGDID:             string(rgd.UID),
				v1alpha1.LabelGraphRevisionHash: hash[:16],
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: v1alpha1.GroupVersion.String(),
				Kind:       "ResourceGraphDefinition",
				Name:       rgd.Name,
				UID:        rgd.UID,
				Controller: ptr.To(true),
			}},
		},
		Spec: revisions.GraphRevisionSpec{
			Revision: n,
			Snapshot: revisions.ResourceGraphDefinitionSnapshot{
				Name:       rgd.Name,
				Generation: rgd.Generation,
				Spec:       *rgd.Spec.DeepCopy(),
			},
		},
	}
	if err := r.Client.Create(ctx, &rev); err != nil {
		return nil, fmt.Errorf("creating graph revision %s: %w", rev.Name, err)
	}
	rgd.Status.LastIssuedRevision = n
	log.FromContext(ctx).Info("created graph revision", "revision", rev.Name)
	return append([]revisions.GraphRevision{rev}, revs...), nil
}

// snapshotRGD is the RGD as of a revision: its metadata with the revision's spec.
func snapshotRGD(rgd *v1alpha1.ResourceGraphDefinition, rev *revisions.GraphRevision) *v1alpha1.ResourceGraphDefinition {
	out := rgd.DeepCopy()
	out.Spec = *rev.Spec.Snapshot.Spec.DeepCopy()
	return out
}

// recordCompile writes the outcome of compiling a revision into its status:
// GraphVerified (Verified, or InvalidGraph with the errors) and Ready.
func (r *Reconciler) recordCompile(ctx context.Context, rev *revisions.GraphRevision, g *graph.Graph, errs field.ErrorList) error {
	orig := rev.DeepCopy()
	c := metav1.Condition{Type: revisions.ConditionGraphVerified, ObservedGeneration: rev.Generation}
	if len(errs) == 0 {
		rev.Status.TopologicalOrder = append([]string(nil), g.TopologicalOrder...)
		rev.Status.Resources = resourceInformation(g)
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, revisions.ReasonVerified, revisions.MessageVerified
	} else {
		rev.Status.TopologicalOrder = nil
		rev.Status.Resources = nil
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, revisions.ReasonInvalidGraph, compileMessage(errs)
	}
	meta.SetStatusCondition(&rev.Status.Conditions, c)
	ready := metav1.Condition{Type: revisions.ConditionReady, Status: c.Status, Reason: c.Reason, Message: c.Message, ObservedGeneration: rev.Generation}
	if c.Status == metav1.ConditionTrue {
		ready.Reason, ready.Message = revisions.ConditionReady, ""
	}
	meta.SetStatusCondition(&rev.Status.Conditions, ready)
	if equalRevisionStatus(orig, rev) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, rev, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("writing the status of graph revision %s: %w", rev.Name, err)
	}
	return nil
}

// resourceInformation lists the nodes of a graph with their dependencies.
func resourceInformation(g *graph.Graph) []v1alpha1.ResourceInformation {
	out := make([]v1alpha1.ResourceInformation, 0, len(g.Nodes))
	for _, n := range g.Nodes {
		info := v1alpha1.ResourceInformation{ID: n.ID}
		for _, d := range n.Dependencies {
			info.Dependencies = append(info.Dependencies, v1alpha1.Dependency{ID: d})
		}
		out = append(out, info)
	}
	return out
}

func equalRevisionStatus(a, b *revisions.GraphRevision) bool {
	ja, _ := json.Marshal(a.Status)
	jb, _ := json.Marshal(b.Status)
	return string(ja) == string(jb)
}

func compileMessage(errs field.ErrorList) string {
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	return strings.Join(msgs, "; ")
}

// pruneRevisions deletes all but the newest keep revisions (given newest
// first), never the newest verified one.
func (r *Reconciler) pruneRevisions(ctx context.Context, revs []revisions.GraphRevision) error {
	keep := r.RevisionsToKeep
	if keep <= 0 {
		keep = DefaultRevisionsToKeep
	}
	newestVerified := -1
	for i := range revs {
		if revs[i].Verified() {
			newestVerified = i
			break
		}
	}
	for i := keep; i < len(revs); i++ {
		if i == newestVerified {
			continue
		}
		if err := r.deleteRevision(ctx, &revs[i]); err != nil {
			return err
		}
		log.FromContext(ctx).V(1).Info("deleted graph revision", "revision", revs[i].Name)
	}
	return nil
}

// deleteRevisions deletes every graph revision of a deleted RGD.
func (r *Reconciler) deleteRevisions(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition) error {
	revs, err := r.listRevisions(ctx, rgd)
	if err != nil {
		return err
	}
	for i := range revs {
		if err := r.deleteRevision(ctx, &revs[i]); err != nil {
			return err
		}
	}
	return nil
}

// deleteRevision deletes a graph revision. Revisions kro wrote carry its
// finalizer (kro.run/finalizer), which nothing else would remove once kro
// is gone: it is dropped first.
func (r *Reconciler) deleteRevision(ctx context.Context, rev *revisions.GraphRevision) error {
	if controllerutil.ContainsFinalizer(rev, v1alpha1.Finalizer) {
		orig := rev.DeepCopy()
		controllerutil.RemoveFinalizer(rev, v1alpha1.Finalizer)
		if err := r.Client.Patch(ctx, rev, client.MergeFrom(orig)); err != nil && !kerrors.IsNotFound(err) {
			return fmt.Errorf("removing the finalizer of graph revision %s: %w", rev.Name, err)
		}
	}
	if !rev.DeletionTimestamp.IsZero() {
		return nil
	}
	if err := r.Client.Delete(ctx, rev); err != nil && !kerrors.IsNotFound(err) {
		return fmt.Errorf("deleting graph revision %s: %w", rev.Name, err)
	}
	return nil
}
