package instance

import (
	"context"
	"fmt"
	"regexp"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/korvid/korvid/api/v1alpha1"
)

// revisionSuffix is the number at the end of a GraphRevision's name
// (<rgd>-r00003).
var revisionSuffix = regexp.MustCompile(`-r0*([0-9]+)$`)

// blockedMessage is kro's message for an instance whose newest graph
// revision failed ("latest issued graph revision 3 failed"); why it failed
// is on the RGD and its GraphRevision.
func blockedMessage(b *block) string {
	if m := revisionSuffix.FindStringSubmatch(b.revision); m != nil {
		return fmt.Sprintf("latest issued graph revision %s failed", m[1])
	}
	if b.revision != "" {
		return fmt.Sprintf("latest issued graph revision %s failed", b.revision)
	}
	return "the instance is held at its last applied state: " + b.message
}

// block is why the instances of a kind are held back.
type block struct {
	revision string
	message  string
	// keepStatus holds the instances without writing to them: the graph is
	// not wrong, korvid is waiting for something outside it (the RGD's
	// author to be verified), so they keep the state and conditions they
	// have, as they would under kro.
	keepStatus bool
}

// Block holds the instances of a kind at their last applied state because
// the newest graph revision of its RGD did not compile: they are not
// reconciled against an older graph, and their GraphResolved and Ready
// conditions name the failed revision. It only affects a controller that
// runs a graph of the named RGD; Ensure with a compiled graph lifts it.
// EnsureBlocked starts a controller already blocked. With keepStatus the
// instances are held without a word: their status is left as it is.
func (c *Controllers) Block(ctx context.Context, gk schema.GroupKind, rgdName, revision, message string, keepStatus bool) error {
	c.mu.Lock()
	k, ok := c.kinds[gk]
	c.mu.Unlock()
	if !ok || k.graph.Load().RGDName != rgdName {
		return nil
	}
	b := &block{revision: revision, message: message, keepStatus: keepStatus}
	if old := k.blocked.Swap(b); old != nil && *old == *b {
		return nil
	}
	return c.enqueueAll(ctx, k)
}

// writeBlocked records on an instance that its graph revision failed. Its
// other conditions (built-in or custom) are left as they are, GraphResolved
// and Ready are set.
func (r *reconciler) writeBlocked(ctx context.Context, inst *unstructured.Unstructured, b *block) error {
	if b.keepStatus {
		log.FromContext(ctx).V(1).Info("instance held back, its status kept", "reason", b.message)
		return nil
	}
	log.FromContext(ctx).V(1).Info("instance held back by a failed graph revision", "revision", b.revision)
	old, status := statusOf(inst)
	msg := blockedMessage(b)
	cs := conditionsOf(old)
	meta.SetStatusCondition(&cs, condition(v1alpha1.ConditionGraphResolved, metav1.ConditionFalse, ReasonResolutionFailed, msg))
	meta.SetStatusCondition(&cs, condition(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonResolutionFailed, msg))
	status["state"] = v1alpha1.InstanceStateError
	status["conditions"] = buildConditions(conditionsOf(old), inst.GetGeneration(), cs)
	// The event says why, the conditions say what kro says.
	event := msg
	if b.revision != "" {
		event = fmt.Sprintf("%s, the instance is held at its last applied state until the ResourceGraphDefinition is fixed: %s", msg, b.message)
	}
	return r.patchStatus(ctx, inst, old, status, event)
}
