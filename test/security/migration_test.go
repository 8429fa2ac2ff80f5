package security

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/trust"
	"github.com/korvid/korvid/test/krotest"
)

// TestMigrationFromKroWithTheAccessReview follows docs/migrating-from-kro.md
// with the access review on: an RGD kro stored (no author record), its CRD,
// an ACTIVE instance and its children exist before korvid is installed. The
// RGD is refused until someone vouches for it (step 4); after the
// documented `kubectl annotate`, it is Active. The instance's state, sampled
// from before korvid is installed to the end, never leaves ACTIVE, and no
// child is recreated.
func TestMigrationFromKroWithTheAccessReview(t *testing.T) {
	ctx := t.Context()
	ns := namespace(t, "kro-migration")
	gvk := schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "Heirloom"}
	configMap := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}

	// What kro left behind, written while korvid's webhook is not there.
	installKorvid := removeWebhooks(t)
	require.NoError(t, env.Client.Create(ctx, krotest.RGD("heirloom", "Heirloom", nil).Build()))
	stored := getRGD(t, "heirloom")
	require.Empty(t, stored.Annotations[trust.AnnotationAuthor], "kro records no author")
	crd, err := krotest.CRD("Heirloom", "heirlooms", "heirloom", string(stored.UID))
	require.NoError(t, err)
	// korvid's controller runs throughout this suite. The CRD gets kro's
	// ownership labels last, once the instance and its children are in
	// place: then the controller first finds the RGD's kind served with an
	// ACTIVE instance, as a controller installed after kro does.
	kroLabels := crd.Labels
	crd.Labels = nil
	require.NoError(t, env.Client.Create(ctx, crd))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		got := &extv1.CustomResourceDefinition{}
		if assert.NoError(ct, env.Client.Get(ctx, client.ObjectKey{Name: crd.Name}, got)) {
			established := false
			for _, c := range got.Status.Conditions {
				established = established || c.Type == extv1.Established && c.Status == extv1.ConditionTrue
			}
			assert.True(ct, established)
		}
	}, timeout, tick)

	inst := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"value": "kept"}}}
	inst.SetGroupVersionKind(gvk)
	inst.SetNamespace(ns)
	inst.SetName("one")
	krotest.SetInstance(inst, "heirloom", string(stored.UID))
	applySet := krotest.ApplySetID("one", ns, "Heirloom", "kro.run")
	require.Eventually(t, func() bool { return env.Client.Create(ctx, inst) == nil }, timeout, 500*time.Millisecond)
	ts := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		if !assert.NoError(ct, env.Client.Get(ctx, client.ObjectKeyFromObject(inst), inst)) {
			return
		}
		inst.Object["status"] = krotest.ActiveStatus(inst.GetGeneration(), ts, nil)
		assert.NoError(ct, env.Client.Status().Update(ctx, inst))
	}, timeout, tick)
	children := map[string]types.UID{}
	for _, ch := range []struct {
		name, node string
		data       map[string]any
	}{
		{"one", "config", map[string]any{"value": "kept"}},
		{"one-consumer", "consumer", map[string]any{"from": "kept"}},
	} {
		obj := &unstructured.Unstructured{Object: map[string]any{"data": ch.data}}
		obj.SetGroupVersionKind(configMap)
		obj.SetNamespace(ns)
		obj.SetName(ch.name)
		obj.SetLabels(krotest.ChildLabels(inst, ch.node))
		require.NoError(t, env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("kro.run/applyset"), client.ForceOwnership))
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(configMap)
		require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ch.name}, got))
		children[ch.name] = got.GetUID()
	}
	childrenUnchanged := func(t *testing.T) {
		t.Helper()
		for name, uid := range children {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(configMap)
			require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, got))
			require.Equal(t, uid, got.GetUID(), name)
		}
	}

	// The instance's state, sampled from now to the end of the migration.
	var (
		sampleMu sync.Mutex
		samples  int
		left     []string
	)
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	t.Cleanup(stopSampling)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sampleCtx.Err() == nil {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(gvk)
			if err := env.Client.Get(sampleCtx, client.ObjectKeyFromObject(inst), got); err == nil {
				st, _, _ := unstructured.NestedString(got.Object, "status", "state")
				sampleMu.Lock()
				samples++
				if st != "ACTIVE" {
					conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
					left = append(left, fmt.Sprintf("state %q, conditions %v", st, conds))
				}
				sampleMu.Unlock()
			}
			select {
			case <-sampleCtx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	stayedActive := func(t *testing.T) {
		t.Helper()
		stopSampling()
		<-sampled
		sampleMu.Lock()
		defer sampleMu.Unlock()
		require.Greater(t, samples, 20, "the state was sampled throughout")
		require.Empty(t, left, "the instance's state left ACTIVE during the migration")
	}

	labelled := crd.DeepCopy()
	labelled.Labels = kroLabels
	require.NoError(t, env.Client.Patch(ctx, labelled, client.MergeFrom(crd)))

	// Step 2: korvid's webhook is installed (its controller already runs,
	// with the access review on).
	installKorvid()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		probe := rgdObject(t, `
spec:
  schema: {apiVersion: v1alpha1, kind: ProbeWebhookBack, spec: {x: string}}
  resources:
  - id: cm
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${schema.spec.nope}"}}
`)
		probe.SetGenerateName("probe-webhook-back-")
		assert.Error(ct, env.Client.Create(context.Background(), probe), "the webhook refuses an RGD that does not compile again")
	}, timeout, tick)

	t.Run("before step 4 the RGD is refused and its instances are held back", func(t *testing.T) {
		c := waitAccepted(t, "heirloom", metav1.ConditionFalse)
		assert.Contains(t, c.Message, "the author of this ResourceGraphDefinition cannot be verified")
		// Nothing of the instance is applied, deleted or written: it keeps
		// kro's status (ACTIVE and kro's conditions) and kro's ApplySet
		// tooling until the RGD is vouched for.
		require.Never(t, func() bool {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(gvk)
			require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "one"}, got))
			st, _, _ := unstructured.NestedString(got.Object, "status", "state")
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			ready := false
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
					ready = m["status"] == "True" && m["reason"] == "Ready"
				}
			}
			return st != "ACTIVE" || !ready || got.GetAnnotations()[v1alpha1.AnnotationApplySetTooling] != "kro/v0.9.1"
		}, 2*time.Second, 200*time.Millisecond, "the instance is held back with kro's status")
		childrenUnchanged(t)
	})

	// Step 4, as documented: a cluster administrator vouches for every RGD
	// by annotating it through the webhook.
	admin := as(t, "platform-admin", rgdAuthorRules()...)
	rgds := &v1alpha1.ResourceGraphDefinitionList{}
	require.NoError(t, admin.List(ctx, rgds))
	for i := range rgds.Items {
		r := &rgds.Items[i]
		if r.Name != "heirloom" {
			continue // RGDs of other scenarios of this suite
		}
		patch := []byte(`{"metadata":{"annotations":{"korvid.dev/migrated-by":"platform-admin"}}}`)
		require.NoError(t, admin.Patch(ctx, r, client.RawPatch(types.MergePatchType, patch)))
	}
	require.NotEmpty(t, getRGD(t, "heirloom").Annotations[trust.AnnotationAuthor], "the webhook recorded the author")

	t.Run("after step 4 the RGD is Active and the instance stays ACTIVE", func(t *testing.T) {
		waitAccepted(t, "heirloom", metav1.ConditionTrue)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			r := &v1alpha1.ResourceGraphDefinition{}
			if assert.NoError(ct, env.Client.Get(context.Background(), client.ObjectKey{Name: "heirloom"}, r)) {
				assert.Equal(ct, v1alpha1.ResourceGraphDefinitionStateActive, r.Status.State)
				if c := meta.FindStatusCondition(r.Status.Conditions, v1alpha1.ConditionReady); assert.NotNil(ct, c) {
					assert.Equal(ct, metav1.ConditionTrue, c.Status)
				}
			}
		}, timeout, tick)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(gvk)
			if !assert.NoError(ct, env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "one"}, got)) {
				return
			}
			st, _, _ := unstructured.NestedString(got.Object, "status", "state")
			assert.Equal(ct, "ACTIVE", st)
			assert.Contains(ct, got.GetAnnotations()[v1alpha1.AnnotationApplySetTooling], "korvid/", "reconciled by korvid")
			assert.Equal(ct, applySet, got.GetLabels()["applyset.kubernetes.io/id"])
		}, timeout, tick)
		// A little longer: korvid's later passes keep it ACTIVE too.
		time.Sleep(2 * time.Second)
		childrenUnchanged(t)
		stayedActive(t)
	})
}
