package controller_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	revisions "github.com/korvid/korvid/api/revisions/v1alpha1"
	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/controller/rgd"
	"github.com/korvid/korvid/test/krotest"
)

// migrated is the RGD a cluster running kro already serves; edition tells
// its successive specs apart.
func migrated(edition string) *v1alpha1.ResourceGraphDefinition {
	return krotest.RGD("migrated", "Legacy", map[string]any{"edition": edition}).Status("configName", "${config.metadata.name}").Build()
}

// kroRevision is a GraphRevision as kro writes it: kro's spec shape, its
// hash label and conditions, none of korvid's labels.
func kroRevision(t *testing.T, c client.Client, n int64, spec v1alpha1.ResourceGraphDefinitionSpec) {
	t.Helper()
	ctx := context.Background()
	rev := &revisions.GraphRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:       fmt.Sprintf("migrated-r%05d", n),
			Labels:     map[string]string{v1alpha1.LabelGraphRevisionHash: fmt.Sprintf("%016x", n)},
			Finalizers: []string{"kro.run/finalizer"},
		},
		Spec: revisions.GraphRevisionSpec{
			Revision: n,
			Snapshot: revisions.ResourceGraphDefinitionSnapshot{Name: "migrated", Generation: n, Spec: spec},
		},
	}
	require.NoError(t, c.Create(ctx, rev))
	now := metav1.Now()
	rev.Status = revisions.GraphRevisionStatus{
		TopologicalOrder: []string{"config", "consumer"},
		Conditions: []metav1.Condition{
			{Type: "GraphVerified", Status: metav1.ConditionTrue, Reason: "Verified", Message: "graph revision compiled and verified", LastTransitionTime: now},
			{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready", LastTransitionTime: now},
		},
	}
	require.NoError(t, c.Status().Update(ctx, rev))
}

// snapshotsOf lists the graph revisions of an RGD by spec.snapshot.name
// (kro's revisions carry none of korvid's labels), oldest first.
func snapshotsOf(t *testing.T, c client.Client, rgdName string) []revisions.GraphRevision {
	t.Helper()
	list := &revisions.GraphRevisionList{}
	require.NoError(t, c.List(context.Background(), list))
	var out []revisions.GraphRevision
	for _, r := range list.Items {
		if r.Spec.Snapshot.Name == rgdName {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Revision < out[j].Spec.Revision })
	return out
}

// kroApply server-side applies an object with one of kro's field managers.
func kroApply(t *testing.T, c client.Client, obj *unstructured.Unstructured, manager string) {
	t.Helper()
	require.NoError(t, c.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner(manager), client.ForceOwnership))
}

// TestInPlaceMigrationFromKro starts from objects shaped exactly as kro
// writes them (generated CRD, GraphRevisions, an ACTIVE instance with its
// labels, annotations, finalizer and status, children applied by kro's field
// manager) and checks that korvid takes over without recreating anything.
func TestInPlaceMigrationFromKro(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := namespace(t, c, "migration")
	spec := func(edition string) v1alpha1.ResourceGraphDefinitionSpec { return migrated(edition).Spec }

	// What kro left behind.
	crd, err := krotest.CRD("Legacy", "legacies", "migrated", "6f1c2a8e-3d4b-4c5a-9e7f-0a1b2c3d4e5f", "configName")
	require.NoError(t, err)
	require.NoError(t, c.Create(ctx, crd))
	require.Eventually(t, func() bool { return crdEstablished(t, c, "legacies.kro.run") }, timeout, tick)
	kroRevision(t, c, 1, spec("1"))
	kroRevision(t, c, 2, spec("2"))

	gvk := kindGVK("Legacy")
	inst := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"value": "kept"}}}
	inst.SetGroupVersionKind(gvk)
	inst.SetNamespace(ns)
	inst.SetName("one")
	require.Eventually(t, func() bool { return c.Create(ctx, inst) == nil }, timeout, 500*time.Millisecond)
	applySet := krotest.ApplySetID("one", ns, "Legacy", "kro.run")
	md := &unstructured.Unstructured{}
	md.SetGroupVersionKind(gvk)
	md.SetNamespace(ns)
	md.SetName("one")
	krotest.SetInstance(md, "migrated", "6f1c2a8e-3d4b-4c5a-9e7f-0a1b2c3d4e5f")
	kroApply(t, c, md, "kro.run/labeller")
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(inst), inst))
	ts := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	inst.Object["status"] = krotest.ActiveStatus(inst.GetGeneration(), ts, map[string]any{"configName": "one"})
	require.NoError(t, c.Status().Update(ctx, inst))

	childUIDs := map[string]types.UID{}
	for _, ch := range []struct {
		name, node string
		data       map[string]any
	}{
		{"one", "config", map[string]any{"value": "kept", "edition": "2"}},
		{"one-consumer", "consumer", map[string]any{"from": "kept"}},
	} {
		obj := &unstructured.Unstructured{Object: map[string]any{"data": ch.data}}
		obj.SetGroupVersionKind(configMapGVK)
		obj.SetNamespace(ns)
		obj.SetName(ch.name)
		obj.SetLabels(krotest.ChildLabels(inst, ch.node))
		kroApply(t, c, obj, "kro.run/applyset")
		childUIDs[ch.name] = mustGet(t, c, configMapGVK, ns, ch.name).GetUID()
	}

	// korvid is installed: the RGD (which kro's cluster already had) is
	// reconciled by korvid.
	createRGDObject(t, c, migrated("2"))
	active := waitActive(t, c, "migrated")

	t.Run("the RGD is Active and continues kro's revisions", func(t *testing.T) {
		require.Equal(t, []string{"migrated-r00001", "migrated-r00002"}, revisionNames(snapshotsOf(t, c, "migrated")),
			"an identical spec issues no new revision")
		require.Equal(t, int64(2), active.Status.LastIssuedRevision)
		cond := rgdCondition(active, rgd.ConditionGraphRevisionsResolved)
		require.NotNil(t, cond)
		require.Equal(t, "revision 2 compiled and active", cond.Message)
	})

	t.Run("the instance stays ACTIVE and is reconciled by korvid", func(t *testing.T) {
		assert.EventuallyWithT(t, func(ct *assert.CollectT) {
			got, err := get(t, c, gvk, ns, "one")
			if !assert.NoError(ct, err) {
				return
			}
			assert.Equal(ct, "ACTIVE", state(got))
			assert.Contains(ct, got.GetAnnotations()[v1alpha1.AnnotationApplySetTooling], "korvid/")
			assert.Equal(ct, string(active.UID), got.GetLabels()[v1alpha1.LabelRGDID])
			assert.Equal(ct, applySet, got.GetLabels()[v1alpha1.LabelApplySetID])
		}, timeout, tick)
		got := mustGet(t, c, gvk, ns, "one")
		require.Equal(t, []string{"kro.run/finalizer"}, got.GetFinalizers())
		ready := condition(got, "Ready")
		require.Equal(t, "True", ready["status"])
		require.Equal(t, ts, ready["lastTransitionTime"], "a condition that did not change keeps kro's transition time")
	})

	t.Run("no child is recreated or conflicted", func(t *testing.T) {
		for name, uid := range childUIDs {
			obj := mustGet(t, c, configMapGVK, ns, name)
			require.Equal(t, uid, obj.GetUID(), name)
			managers := map[string]bool{}
			for _, mf := range obj.GetManagedFields() {
				managers[mf.Manager] = true
			}
			require.True(t, managers["kro.run/applyset"], "%s is still managed by the applyset field manager", name)
			require.Len(t, managers, 1, "%s has no second field manager fighting over it: %v", name, managers)
		}
		patchSpec(t, c, "Legacy", ns, "one", map[string]any{"value": "changed"})
		require.Eventually(t, func() bool {
			obj := mustGet(t, c, configMapGVK, ns, "one-consumer")
			return obj.Object["data"].(map[string]any)["from"] == "changed"
		}, timeout, tick)
		for name, uid := range childUIDs {
			require.Equal(t, uid, mustGet(t, c, configMapGVK, ns, name).GetUID(), name)
		}
		waitState(t, c, gvk, ns, "one", v1alpha1.InstanceStateActive)
	})

	t.Run("a spec change takes the next revision number", func(t *testing.T) {
		updateSpec(t, c, "migrated", spec("3"))
		rev := waitRevision(t, c, "migrated-r00003")
		require.True(t, isVerified(rev))
		require.Eventually(t, func() bool { return getRGD(t, c, "migrated").Status.LastIssuedRevision == 3 }, timeout, tick)
	})

	t.Run("kro's revisions are pruned despite kro's finalizer", func(t *testing.T) {
		for i := 4; i <= 6; i++ {
			updateSpec(t, c, "migrated", spec(fmt.Sprint(i)))
			waitRevision(t, c, fmt.Sprintf("migrated-r%05d", i))
		}
		require.Eventually(t, func() bool {
			names := revisionNames(snapshotsOf(t, c, "migrated"))
			return len(names) == 5 && names[0] == "migrated-r00002"
		}, timeout, tick, "the oldest revision, written by kro, is gone")
	})
}

// TestTerminatingChildBlocksDependents holds a child in deletion with a
// foreign finalizer: its dependents wait, the instance reports
// ResourceDeleting, and once the child is gone it is created again.
func TestTerminatingChildBlocksDependents(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	createRGD(t, c, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: terminatings
spec:
  schema:
    apiVersion: v1alpha1
    kind: Terminating
    spec:
      value: string | default=a
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
      data:
        value: ${schema.spec.value}
  - id: consumer
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${config.metadata.name}-consumer
      data:
        from: ${config.data.value}
`)
	waitActive(t, c, "terminatings")
	ns := namespace(t, c, "terminating")
	createInstance(t, c, "Terminating", ns, "t1", map[string]any{"value": "a"})
	waitState(t, c, kindGVK("Terminating"), ns, "t1", v1alpha1.InstanceStateActive)

	cfg := mustGet(t, c, configMapGVK, ns, "t1")
	oldUID := cfg.GetUID()
	cfg.SetFinalizers([]string{"example.com/hold"})
	require.NoError(t, c.Update(ctx, cfg))
	require.NoError(t, c.Delete(ctx, cfg))
	patchSpec(t, c, "Terminating", ns, "t1", map[string]any{"value": "b"})

	assert.EventuallyWithT(t, func(ct *assert.CollectT) {
		got, err := get(t, c, kindGVK("Terminating"), ns, "t1")
		if !assert.NoError(ct, err) {
			return
		}
		rr := condition(got, v1alpha1.ConditionResourcesReady)
		if assert.NotNil(ct, rr) {
			assert.Equal(ct, "False", rr["status"])
			assert.Equal(ct, "ResourceDeleting", rr["reason"])
			assert.Contains(ct, rr["message"], "config: ConfigMap "+ns+"/t1 is terminating")
		}
		assert.Equal(ct, v1alpha1.InstanceStateInProgress, state(got))
	}, timeout, tick)
	require.Never(t, func() bool {
		return mustGet(t, c, configMapGVK, ns, "t1-consumer").Object["data"].(map[string]any)["from"] == "b"
	}, 2*time.Second, tick, "the dependent of a terminating child waits")

	cfg = mustGet(t, c, configMapGVK, ns, "t1")
	cfg.SetFinalizers(nil)
	require.NoError(t, c.Update(ctx, cfg))
	waitState(t, c, kindGVK("Terminating"), ns, "t1", v1alpha1.InstanceStateActive)
	require.NotEqual(t, oldUID, mustGet(t, c, configMapGVK, ns, "t1").GetUID(), "the child is created again once gone")
	require.Equal(t, "b", mustGet(t, c, configMapGVK, ns, "t1-consumer").Object["data"].(map[string]any)["from"])
}
