package controller_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/controller/instance"
	"github.com/korvid/korvid/internal/ownership"
	"github.com/korvid/korvid/test/rgdtest"
)

// claiming is an RGD whose instances apply a ConfigMap named by
// spec.target, so that two instances can be pointed at one object.
func claiming(name, kind string) *v1alpha1.ResourceGraphDefinition {
	return rgdtest.New(name, kind).Spec("target", "string | required=true").Spec("value", "string | default=x").
		ConfigMap("config", "${schema.spec.target}", map[string]any{"value": "${schema.spec.value}"}).Build()
}

var claimersOnce sync.Once

// claimers creates the Claimer RGD once for the tests of this file.
func claimers(t *testing.T, c client.Client) {
	t.Helper()
	claimersOnce.Do(func() { createRGDObject(t, c, claiming("claimers", "Claimer")) })
	waitActive(t, c, "claimers")
}

// A ConfigMap that existed before, without korvid's labels, is never
// patched, labelled or deleted by an instance that renders the same name.
func TestExistingObjectIsNeverTakenOver(t *testing.T) {
	c := start(t)
	claimers(t, c)
	ns := namespace(t, c, "noadopt")
	ctx := t.Context()
	orig := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "precious", Labels: map[string]string{"team": "a"}},
		Data: map[string]string{"value": "original", "other": "kept"}}
	require.NoError(t, c.Create(ctx, orig))

	createInstance(t, c, "Claimer", ns, "thief", map[string]any{"target": "precious", "value": "stolen"})
	u := waitState(t, c, kindGVK("Claimer"), ns, "thief", v1alpha1.InstanceStateError)
	rr := condition(u, v1alpha1.ConditionResourcesReady)
	assert.Equal(t, "NotReady", rr["reason"])
	assert.Contains(t, rr["message"], "ConfigMap "+ns+"/precious already exists and was not created by korvid")
	assert.Contains(t, rr["message"], "kro.run/adopt=Claimer.kro.run/"+ns+"/thief", "the message says how the owner may hand it over")

	got := &corev1.ConfigMap{}
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(orig), got))
	assert.Equal(t, orig.ResourceVersion, got.ResourceVersion, "the object is not written at all")
	assert.Equal(t, map[string]string{"team": "a"}, got.Labels)
	for _, mf := range got.ManagedFields {
		assert.NotEqual(t, v1alpha1.FieldManager, mf.Manager)
	}

	require.NoError(t, c.Delete(ctx, u))
	eventuallyGone(t, c, kindGVK("Claimer"), ns, "thief")
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(orig), got), "deleting the instance leaves the object")
	assert.Equal(t, orig.ResourceVersion, got.ResourceVersion)
}

// The create korvid tries first for a child its cache does not hold creates
// a missing object as korvid's server-side apply, and writes nothing to one
// that exists, whoever created it and whenever: the API server decides, in
// the same request.
func TestCreateOnlyNeverWritesAnExistingObject(t *testing.T) {
	c := start(t)
	ns := namespace(t, c, "createonly")
	ctx := t.Context()
	configMap := func(name, value string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": name, "namespace": ns},
			"data":     map[string]any{"value": value},
		}}
	}

	w := writer(t, c)
	fresh := configMap("fresh", "new")
	require.NoError(t, instance.CreateOnly(ctx, w, fresh))
	got := &corev1.ConfigMap{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fresh"}, got))
	assert.Equal(t, map[string]string{"value": "new"}, got.Data)
	assert.Equal(t, got.ResourceVersion, fresh.GetResourceVersion(), "the answer is the created object")
	require.Len(t, got.ManagedFields, 1)
	assert.Equal(t, v1alpha1.FieldManager, got.ManagedFields[0].Manager)
	assert.Equal(t, metav1.ManagedFieldsOperationApply, got.ManagedFields[0].Operation,
		"created by an apply: fields later dropped from the template are pruned")

	orig := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "theirs"}, Data: map[string]string{"value": "original"}}
	require.NoError(t, c.Create(ctx, orig))
	attempt := configMap("theirs", "stolen")
	err := instance.CreateOnly(ctx, w, attempt)
	require.Error(t, err)
	assert.True(t, apierrors.IsConflict(err), "an existing object is a conflict: %v", err)
	assert.Empty(t, attempt.GetResourceVersion(), "the rendered object is left as it was")
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(orig), got))
	assert.Equal(t, orig.ResourceVersion, got.ResourceVersion, "the existing object is not written")
	assert.Equal(t, map[string]string{"value": "original"}, got.Data)

	// korvid's own object is no exception: it is applied the long way.
	again := configMap("fresh", "newer")
	err = instance.CreateOnly(ctx, w, again)
	assert.True(t, apierrors.IsConflict(err), "%v", err)
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fresh"}, got))
	assert.Equal(t, map[string]string{"value": "new"}, got.Data)
}

// The owner of an existing object may hand it over with the adoption
// annotation naming the instance.
func TestAdoptionIsOptInByTheOwner(t *testing.T) {
	c := start(t)
	claimers(t, c)
	ns := namespace(t, c, "adopt")
	ctx := t.Context()
	ref := instance.AdoptionRef(ownership.Instance{GVK: kindGVK("Claimer"), Namespace: ns, Name: "heir"})
	require.Equal(t, "Claimer.kro.run/"+ns+"/heir", ref)
	legacy := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy",
		Annotations: map[string]string{v1alpha1.AnnotationAdopt: ref}}, Data: map[string]string{"value": "old"}}
	require.NoError(t, c.Create(ctx, legacy))

	inst := createInstance(t, c, "Claimer", ns, "heir", map[string]any{"target": "legacy", "value": "new"})
	waitState(t, c, kindGVK("Claimer"), ns, "heir", v1alpha1.InstanceStateActive)
	got := &corev1.ConfigMap{}
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(legacy), got))
	assert.Equal(t, legacy.UID, got.UID, "adopted, not recreated")
	assert.Equal(t, "new", got.Data["value"])
	assert.Equal(t, string(inst.GetUID()), got.Labels[v1alpha1.LabelInstanceID])
}

// Two instances rendering the same child at the same time never both write
// it: one holds it, the other reports the conflict, and the object carries
// exactly the holder's data.
func TestConcurrentClaimsNeverBothWrite(t *testing.T) {
	c := start(t)
	claimers(t, c)
	ns := namespace(t, c, "race")
	const pairs = 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*pairs)
	for i := range pairs {
		for _, side := range []string{"a", "b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"target": fmt.Sprintf("shared-%d", i), "value": side}}}
				u.SetGroupVersionKind(kindGVK("Claimer"))
				u.SetNamespace(ns)
				u.SetName(fmt.Sprintf("%s-%d", side, i))
				errs <- c.Create(t.Context(), u)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i := range pairs {
		a := waitSettled(t, c, "Claimer", ns, fmt.Sprintf("a-%d", i))
		b := waitSettled(t, c, "Claimer", ns, fmt.Sprintf("b-%d", i))
		states := []string{state(a), state(b)}
		require.ElementsMatch(t, []string{v1alpha1.InstanceStateActive, v1alpha1.InstanceStateError}, states, "pair %d", i)
		winner, loser := a, b
		if state(b) == v1alpha1.InstanceStateActive {
			winner, loser = b, a
		}
		assert.Contains(t, condition(loser, v1alpha1.ConditionResourcesReady)["message"], "already exists and belongs to Claimer "+ns+"/"+winner.GetName(), "pair %d", i)
		cm := mustGet(t, c, configMapGVK, ns, fmt.Sprintf("shared-%d", i))
		assert.Equal(t, string(winner.GetUID()), cm.GetLabels()[v1alpha1.LabelInstanceID], "pair %d", i)
		assert.Equal(t, winner.GetName()[:1], cm.Object["data"].(map[string]any)["value"], "pair %d: only the holder wrote the data", i)
		managers := 0
		for _, mf := range cm.GetManagedFields() {
			if mf.Manager == v1alpha1.FieldManager {
				managers++
			}
		}
		assert.Equal(t, 1, managers, "pair %d", i)
	}
}

// waitSettled waits until an instance is ACTIVE or ERROR.
func waitSettled(t *testing.T, c client.Client, kind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	var u *unstructured.Unstructured
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		got, err := get(t, c, kindGVK(kind), ns, name)
		if !assert.NoError(ct, err) {
			return
		}
		assert.Contains(ct, []string{v1alpha1.InstanceStateActive, v1alpha1.InstanceStateError}, state(got))
		u = got
	}, timeout, tick)
	return u
}

// Labels computed from the instance may not carry korvid's prefixes: the
// object is not applied and the instance says why.
func TestComputedReservedLabelsAreRefused(t *testing.T) {
	c := start(t)
	createRGD(t, c, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: labellers
spec:
  schema:
    apiVersion: v1alpha1
    kind: Labeller
    spec:
      target: string | required=true
      labels: "map[string]string"
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.target}
        labels: ${schema.spec.labels}
`)
	waitActive(t, c, "labellers")
	ns := namespace(t, c, "forge")
	createInstance(t, c, "Labeller", ns, "forger", map[string]any{"target": "forged",
		"labels": map[string]any{"kro.run/instance-id": "someone-else", "team": "a"}})
	u := waitState(t, c, kindGVK("Labeller"), ns, "forger", v1alpha1.InstanceStateError)
	msg := fmt.Sprint(condition(u, v1alpha1.ConditionResourcesReady)["message"], condition(u, v1alpha1.ConditionGraphResolved)["message"])
	assert.Contains(t, msg, `renders label "kro.run/instance-id"`)
	_, err := get(t, c, configMapGVK, ns, "forged")
	assert.True(t, apierrors.IsNotFound(err), "the object is not applied: %v", err)
}
