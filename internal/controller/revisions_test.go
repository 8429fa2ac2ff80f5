package controller_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	revisions "github.com/korvid/korvid/api/revisions/v1alpha1"
	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/controller"
	"github.com/korvid/korvid/internal/controller/instance"
	"github.com/korvid/korvid/internal/controller/rgd"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/options"
	"github.com/korvid/korvid/test/rgdtest"
)

// revisioned is an RGD whose ConfigMap's value reads field of the spec,
// with an edition that makes each spec distinct.
func revisioned(name, kind, field, edition string) *v1alpha1.ResourceGraphDefinition {
	return rgdtest.New(name, kind).Spec("value", `string | default="a"`).
		ConfigMap("config", "${schema.metadata.name}", map[string]any{"value": "${schema.spec." + field + "}", "edition": edition}).Build()
}

// revisionsOf lists the graph revisions of an RGD by name, oldest first.
func revisionsOf(t *testing.T, c client.Client, rgdName string) []revisions.GraphRevision {
	t.Helper()
	list := &revisions.GraphRevisionList{}
	require.NoError(t, c.List(context.Background(), list, client.MatchingLabels{v1alpha1.LabelRGDName: rgdName}))
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Spec.Revision < list.Items[j].Spec.Revision })
	return list.Items
}

func revisionNames(revs []revisions.GraphRevision) []string {
	out := make([]string, 0, len(revs))
	for _, r := range revs {
		out = append(out, r.Name)
	}
	return out
}

// updateSpec replaces the spec of an RGD, retrying on conflicts.
func updateSpec(t *testing.T, c client.Client, name string, spec v1alpha1.ResourceGraphDefinitionSpec) {
	t.Helper()
	updateRGD(t, c, name, func(r *v1alpha1.ResourceGraphDefinition) { r.Spec = spec })
}

// waitRevision waits for a revision to exist with a compile outcome.
func waitRevision(t *testing.T, c client.Client, name string) *revisions.GraphRevision {
	t.Helper()
	rev := &revisions.GraphRevision{}
	require.Eventually(t, func() bool {
		return c.Get(context.Background(), client.ObjectKey{Name: name}, rev) == nil &&
			meta.FindStatusCondition(rev.Status.Conditions, revisions.ConditionGraphVerified) != nil
	}, timeout, tick, "graph revision %s never got a compile outcome", name)
	return rev
}

func isVerified(rev *revisions.GraphRevision) bool {
	return meta.IsStatusConditionTrue(rev.Status.Conditions, revisions.ConditionGraphVerified)
}

func TestGraphRevisionsNamingDedupAndRetention(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	const name = "revisioned"
	createRGDObject(t, c, revisioned(name, "Revisioned", "value", "0"))
	created := waitActive(t, c, name)

	first := waitRevision(t, c, name+"-r00001")
	require.True(t, isVerified(first))
	// kro's shape: spec.revision and spec.snapshot{name, generation, spec}.
	require.Equal(t, name, first.Spec.Snapshot.Name)
	require.Equal(t, created.Generation, first.Spec.Snapshot.Generation)
	require.Equal(t, int64(1), first.Spec.Revision)
	require.Equal(t, created.Spec, first.Spec.Snapshot.Spec)
	require.Equal(t, string(created.UID), first.Labels[v1alpha1.LabelRGDID])
	require.NotEmpty(t, first.Labels[v1alpha1.LabelGraphRevisionHash])
	require.Equal(t, []string{"config"}, first.Status.TopologicalOrder)
	require.Equal(t, []v1alpha1.ResourceInformation{{ID: "config"}}, first.Status.Resources)
	gv := meta.FindStatusCondition(first.Status.Conditions, revisions.ConditionGraphVerified)
	require.Equal(t, "Verified", gv.Reason)
	require.Equal(t, "graph revision compiled and verified", gv.Message)
	require.True(t, meta.IsStatusConditionTrue(first.Status.Conditions, revisions.ConditionReady))
	require.Equal(t, int64(1), created.Status.LastIssuedRevision)
	cond := rgdCondition(created, rgd.ConditionGraphRevisionsResolved)
	require.NotNil(t, cond)
	require.Equal(t, metav1.ConditionTrue, cond.Status)
	require.Equal(t, "revision 1 compiled and active", cond.Message)

	t.Run("the snapshot is immutable", func(t *testing.T) {
		rev := first.DeepCopy()
		rev.Spec.Snapshot.Spec.Schema.Kind = "Other"
		err := c.Update(ctx, rev)
		require.Error(t, err)
		require.Contains(t, err.Error(), "immutable")
	})

	t.Run("an identical spec makes no new revision", func(t *testing.T) {
		// An annotation change reconciles the RGD with the same spec.
		updateRGD(t, c, name, func(r *v1alpha1.ResourceGraphDefinition) {
			r.Annotations = map[string]string{"example.com/touched": "yes"}
		})
		updateSpec(t, c, name, revisioned(name, "Revisioned", "value", "0").Spec)
		require.Never(t, func() bool { return len(revisionsOf(t, c, name)) != 1 }, 2*time.Second, tick)
	})

	t.Run("every spec change is a new revision; the newest five are kept", func(t *testing.T) {
		for i := 1; i <= 7; i++ {
			updateSpec(t, c, name, revisioned(name, "Revisioned", "value", fmt.Sprint(i)).Spec)
			rev := waitRevision(t, c, fmt.Sprintf("%s-r%05d", name, i+1))
			require.True(t, isVerified(rev))
			require.Contains(t, string(rev.Spec.Snapshot.Spec.Resources[0].Template.Raw), fmt.Sprintf(`"edition":"%d"`, i))
		}
		require.Eventually(t, func() bool { return len(revisionsOf(t, c, name)) == 5 }, timeout, tick)
		require.Equal(t, []string{name + "-r00004", name + "-r00005", name + "-r00006", name + "-r00007", name + "-r00008"},
			revisionNames(revisionsOf(t, c, name)))
		// The RGD's status is written after the revision: wait for it.
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			r := &v1alpha1.ResourceGraphDefinition{}
			if assert.NoError(ct, c.Get(ctx, client.ObjectKey{Name: name}, r)) {
				assert.Equal(ct, int64(8), r.Status.LastIssuedRevision)
			}
		}, timeout, tick)
	})

	t.Run("revisions are deleted with the RGD", func(t *testing.T) {
		require.NoError(t, c.Delete(ctx, getRGD(t, c, name)))
		require.Eventually(t, func() bool { return len(revisionsOf(t, c, name)) == 0 }, timeout, tick)
	})
}

func TestFailedRevisionBlocksInstances(t *testing.T) {
	c := start(t)
	const name = "guarded"
	createRGDObject(t, c, revisioned(name, "Guarded", "value", "1"))
	waitActive(t, c, name)
	ns := namespace(t, c, "revisions")
	createInstance(t, c, "Guarded", ns, "one", map[string]any{"value": "first"})
	waitState(t, c, kindGVK("Guarded"), ns, "one", v1alpha1.InstanceStateActive)
	require.Equal(t, "first", mustGet(t, c, configMapGVK, ns, "one").Object["data"].(map[string]any)["value"])

	// The newest revision references a field the schema does not have.
	updateSpec(t, c, name, revisioned(name, "Guarded", "missing", "2").Spec)
	failed := waitRevision(t, c, name+"-r00002")
	fc := meta.FindStatusCondition(failed.Status.Conditions, revisions.ConditionGraphVerified)
	require.NotNil(t, fc)
	require.Equal(t, metav1.ConditionFalse, fc.Status)
	require.Equal(t, "InvalidGraph", fc.Reason)
	require.Contains(t, fc.Message, "missing")

	var rc *metav1.Condition
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		rc = rgdCondition(getRGD(collect, c, name), rgd.ConditionGraphRevisionsResolved)
		assert.True(collect, rc != nil && rc.Status == metav1.ConditionFalse)
	}, timeout, tick)
	require.Equal(t, rgd.ReasonRevisionFailed, rc.Reason)
	require.Contains(t, rc.Message, name+"-r00002")

	inst := waitState(t, c, kindGVK("Guarded"), ns, "one", v1alpha1.InstanceStateError)
	gr := condition(inst, v1alpha1.ConditionGraphResolved)
	require.NotNil(t, gr)
	require.Equal(t, "False", gr["status"])
	require.Equal(t, instance.ReasonResolutionFailed, gr["reason"])
	require.Equal(t, "latest issued graph revision 2 failed", gr["message"])
	require.Equal(t, instance.ReasonResolutionFailed, condition(inst, v1alpha1.ConditionReady)["reason"])

	// Progress stops: a spec change is not rolled out with the older graph.
	patchSpec(t, c, "Guarded", ns, "one", map[string]any{"value": "second"})
	require.Never(t, func() bool {
		return mustGet(t, c, configMapGVK, ns, "one").Object["data"].(map[string]any)["value"] != "first"
	}, 2*time.Second, tick)

	// A fixed spec is a new verified revision and progress resumes.
	updateSpec(t, c, name, revisioned(name, "Guarded", "value", "3").Spec)
	require.True(t, isVerified(waitRevision(t, c, name+"-r00003")))
	waitState(t, c, kindGVK("Guarded"), ns, "one", v1alpha1.InstanceStateActive)
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		data := mustGet(collect, c, configMapGVK, ns, "one").Object["data"].(map[string]any)
		assert.True(collect, data["value"] == "second" && data["edition"] == "3")
	}, timeout, tick)
	require.Equal(t, "True", condition(mustGet(t, c, kindGVK("Guarded"), ns, "one"), v1alpha1.ConditionGraphResolved)["status"])
}

// Setup never writes to the manager's scheme, which other managers and
// clients of the process may be reading: a scheme without GraphRevisions is
// refused, not extended.
func TestSetupRefusesASchemeWithoutGraphRevisions(t *testing.T) {
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	require.NoError(t, v1alpha1.AddToScheme(s))
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	require.NoError(t, err)
	_, err = controller.Setup(mgr, controller.Options{Controller: *options.NewController(), Graph: graph.DefaultOptions()})
	require.ErrorContains(t, err, "internal.kro.run/v1alpha1")
	assert.False(t, s.IsVersionRegistered(revisions.GroupVersion), "the scheme was left as it was")
}
