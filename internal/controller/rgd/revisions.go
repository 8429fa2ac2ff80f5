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
	"sigs.k8s.io/controller-runtime/pkg/log"

	revisions "github.com/korvid/korvid/api/revisions/v1alpha1"
	"github.com/korvid/korvid/api/v1alpha1"
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
// reads from the API server: revision numbers must not come from a stale cache.
func (r *Reconciler) listRevisions(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition) ([]revisions.GraphRevision, error) {
	list := &revisions.GraphRevisionList{}
	if err := r.Reader.List(ctx, list, client.MatchingLabels{v1alpha1.LabelRGDID: string(rgd.UID)}); err != nil {
		return nil, fmt.Errorf("listing graph revisions: %w", err)
	}
	out := list.Items
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
	if len(revs) > 0 && revs[0].Spec.SpecHash == hash {
		return revs, nil
	}
	var n int64 = 1
	if len(revs) > 0 {
		n = revs[0].Spec.Revision + 1
	}
	rev := revisions.GraphRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: RevisionName(rgd.Name, n),
			Labels: map[string]string{
				v1alpha1.LabelOwned:   "true",
				v1alpha1.LabelRGDName: rgd.Name,
				v1alpha1.LabelRGDID:   string(rgd.UID),
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
			ResourceGraphDefinitionName: rgd.Name,
			ResourceGraphDefinitionUID:  string(rgd.UID),
			Revision:                    n,
			SpecHash:                    hash,
			Snapshot:                    *rgd.Spec.DeepCopy(),
		},
	}
	if err := r.Client.Create(ctx, &rev); err != nil {
		return nil, fmt.Errorf("creating graph revision %s: %w", rev.Name, err)
	}
	log.FromContext(ctx).Info("created graph revision", "revision", rev.Name)
	return append([]revisions.GraphRevision{rev}, revs...), nil
}

// snapshotRGD is the RGD as of a revision: its metadata with the revision's spec.
func snapshotRGD(rgd *v1alpha1.ResourceGraphDefinition, rev *revisions.GraphRevision) *v1alpha1.ResourceGraphDefinition {
	out := rgd.DeepCopy()
	out.Spec = *rev.Spec.Snapshot.DeepCopy()
	return out
}

// recordCompile writes the outcome of compiling a revision into its status.
func (r *Reconciler) recordCompile(ctx context.Context, rev *revisions.GraphRevision, order []string, errs field.ErrorList) error {
	orig := rev.DeepCopy()
	c := metav1.Condition{Type: revisions.ConditionVerified, ObservedGeneration: rev.Generation}
	if len(errs) == 0 {
		rev.Status.State = revisions.GraphRevisionStateVerified
		rev.Status.TopologicalOrder = append([]string(nil), order...)
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, revisions.ReasonCompiled, "the snapshot compiled"
	} else {
		rev.Status.State = revisions.GraphRevisionStateFailed
		rev.Status.TopologicalOrder = nil
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, revisions.ReasonCompileFailed, compileMessage(errs)
	}
	meta.SetStatusCondition(&rev.Status.Conditions, c)
	if equalRevisionStatus(orig, rev) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, rev, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("writing the status of graph revision %s: %w", rev.Name, err)
	}
	return nil
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
	verified := -1
	for i := range revs {
		if revs[i].Status.State == revisions.GraphRevisionStateVerified {
			verified = i
			break
		}
	}
	for i := keep; i < len(revs); i++ {
		if i == verified {
			continue
		}
		if err := r.Client.Delete(ctx, &revs[i]); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting graph revision %s: %w", revs[i].Name, err)
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
		if err := r.Client.Delete(ctx, &revs[i]); err != nil && !kerrors.IsNotFound(err) {
			return fmt.Errorf("deleting graph revision %s: %w", revs[i].Name, err)
		}
	}
	return nil
}
