package controller_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/test/rgdtest"
)

// evolving is the RGD whose instance schema
// TestBreakingSchemaChangeNeedsAnnotation changes: the type of size.
func evolving(sizeType string) *v1alpha1.ResourceGraphDefinition {
	return rgdtest.New("evolvings", "Evolving").Spec("size", sizeType).
		ConfigMap("config", "${schema.metadata.name}", map[string]any{"size": "${string(schema.spec.size)}"}).Build()
}

func TestBreakingSchemaChangeNeedsAnnotation(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	createRGDObject(t, c, evolving("string"))
	waitActive(t, c, "evolvings")

	updateSpec(t, c, "evolvings", evolving("integer").Spec)
	var rgd *v1alpha1.ResourceGraphDefinition
	var cond *metav1.Condition
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		rgd = getRGD(collect, c, "evolvings")
		cond = rgdCondition(rgd, v1alpha1.ConditionKindReady)
		assert.True(collect, cond != nil && cond.Status == metav1.ConditionFalse && cond.ObservedGeneration == rgd.Generation)
	}, timeout, tick)
	require.Equal(t, "BreakingSchemaChanges", cond.Reason)
	require.Contains(t, cond.Message, "spec.size")
	require.Contains(t, cond.Message, v1alpha1.AnnotationAllowBreakingChanges)
	require.Equal(t, v1alpha1.ResourceGraphDefinitionStateInactive, rgd.Status.State)
	crd := &extv1.CustomResourceDefinition{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "evolvings.kro.run"}, crd))
	require.Equal(t, "string", crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["size"].Type)

	updateRGD(t, c, "evolvings", func(r *v1alpha1.ResourceGraphDefinition) {
		r.Annotations = map[string]string{v1alpha1.AnnotationAllowBreakingChanges: "true"}
	})
	waitActive(t, c, "evolvings")
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "evolvings.kro.run"}, crd))
	require.Equal(t, "integer", crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["size"].Type)
}

func TestForeignCRDIsNotTakenOver(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	foreign := &extv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "gadgets.kro.run"},
		Spec: extv1.CustomResourceDefinitionSpec{
			Group: "kro.run",
			Names: extv1.CustomResourceDefinitionNames{Plural: "gadgets", Singular: "gadget", Kind: "Gadget", ListKind: "GadgetList"},
			Scope: extv1.NamespaceScoped,
			Versions: []extv1.CustomResourceDefinitionVersion{{
				Name: "v1alpha1", Served: true, Storage: true,
				Schema: &extv1.CustomResourceValidation{OpenAPIV3Schema: &extv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr(true)}},
			}},
		},
	}
	require.NoError(t, c.Create(ctx, foreign))
	createRGDObject(t, c, rgdtest.New("gadgets", "Gadget").Spec("name", "string").Build())
	var cond *metav1.Condition
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		cond = rgdCondition(getRGD(collect, c, "gadgets"), v1alpha1.ConditionKindReady)
		assert.True(collect, cond != nil)
	}, timeout, tick)
	require.Equal(t, metav1.ConditionFalse, cond.Status)
	require.Equal(t, "CRDOwnedElsewhere", cond.Reason)
	require.Contains(t, cond.Message, "gadgets.kro.run")
	require.Equal(t, v1alpha1.ResourceGraphDefinitionStateInactive, getRGD(t, c, "gadgets").Status.State)
	got := &extv1.CustomResourceDefinition{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "gadgets.kro.run"}, got))
	require.Empty(t, got.Labels)
	require.True(t, *got.Spec.Versions[0].Schema.OpenAPIV3Schema.XPreserveUnknownFields)
}

func ptr[T any](v T) *T { return &v }

func TestDeletedRGDStopsItsControllerAndKeepsTheCRD(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	createRGDObject(t, c, rgdtest.New("ephemerals", "Ephemeral").Spec("name", "string").
		ConfigMap("config", "${schema.metadata.name}", nil).Build())
	waitActive(t, c, "ephemerals")
	ns := namespace(t, c, "ephemeral")
	createInstance(t, c, "Ephemeral", ns, "before", map[string]any{})
	eventuallyGet(t, c, configMapGVK, ns, "before")

	// No webhook in this suite: the deletion is not refused, but the RGD's
	// finalizer waits while a live instance exists, and its controller
	// keeps running so the instance stays deletable.
	require.NoError(t, c.Delete(ctx, getRGD(t, c, "ephemerals")))
	require.Never(t, func() bool {
		err := c.Get(ctx, client.ObjectKey{Name: "ephemerals"}, &v1alpha1.ResourceGraphDefinition{})
		return apierrors.IsNotFound(err)
	}, 3*time.Second, tick, "the RGD went while an instance still existed")
	require.NoError(t, c.Delete(ctx, mustGet(t, c, kindGVK("Ephemeral"), ns, "before")))
	eventuallyGone(t, c, configMapGVK, ns, "before")
	eventuallyGone(t, c, kindGVK("Ephemeral"), ns, "before")
	require.Eventually(t, func() bool {
		err := c.Get(ctx, client.ObjectKey{Name: "ephemerals"}, &v1alpha1.ResourceGraphDefinition{})
		return apierrors.IsNotFound(err)
	}, timeout, tick, "the RGD finalizer was not released once its instances were gone")
	require.True(t, crdEstablished(t, c, "ephemerals.kro.run"), "the CRD must be kept")

	createInstance(t, c, "Ephemeral", ns, "after", map[string]any{})
	time.Sleep(2 * time.Second)
	_, err := get(t, c, configMapGVK, ns, "after")
	require.True(t, apierrors.IsNotFound(err), "the instance controller still runs")
	// Clean up the unmanaged instance (it never got korvid's finalizer).
	require.NoError(t, c.Delete(ctx, mustGet(t, c, kindGVK("Ephemeral"), ns, "after")))
}

func TestChainedRGDs(t *testing.T) {
	c := start(t)
	// The outer RGD uses the inner kind before it exists.
	createRGDObject(t, c, rgdtest.New("outers", "Outer").Spec("name", "string | required=true").
		Resource("inner", map[string]any{
			"apiVersion": "kro.run/v1alpha1", "kind": "Inner",
			"metadata": map[string]any{"name": "${schema.spec.name}"},
			"spec":     map[string]any{"value": "${schema.spec.name}-value"},
		}).Build())
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		cond := rgdCondition(getRGD(collect, c, "outers"), v1alpha1.ConditionGraphAccepted)
		assert.True(collect, cond != nil && cond.Status == metav1.ConditionFalse)
	}, timeout, tick)
	require.Contains(t, rgdCondition(getRGD(t, c, "outers"), v1alpha1.ConditionGraphAccepted).Message, "Inner")

	createRGDObject(t, c, rgdtest.New("inners", "Inner").Spec("value", "string").Status("stored", "${config.data.value}").
		ConfigMap("config", "${schema.metadata.name}-inner", map[string]any{"value": "${schema.spec.value}"}).Build())
	waitActive(t, c, "inners")
	waitActive(t, c, "outers")

	ns := namespace(t, c, "chain")
	createInstance(t, c, "Outer", ns, "o1", map[string]any{"name": "o1"})
	cm := eventuallyGet(t, c, configMapGVK, ns, "o1-inner")
	require.Equal(t, "o1-value", cm.Object["data"].(map[string]any)["value"])
	inner := waitState(t, c, kindGVK("Inner"), ns, "o1", v1alpha1.InstanceStateActive)
	stored, _, _ := unstructured.NestedString(inner.Object, "status", "stored")
	require.Equal(t, "o1-value", stored)
	waitState(t, c, kindGVK("Outer"), ns, "o1", v1alpha1.InstanceStateActive)

	require.NoError(t, c.Delete(context.Background(), mustGet(t, c, kindGVK("Outer"), ns, "o1")))
	eventuallyGone(t, c, kindGVK("Outer"), ns, "o1")
	eventuallyGone(t, c, kindGVK("Inner"), ns, "o1")
	eventuallyGone(t, c, configMapGVK, ns, "o1-inner")
}

func TestClusterScopedInstance(t *testing.T) {
	c := start(t)
	createRGD(t, c, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: tenants
spec:
  schema:
    apiVersion: v1alpha1
    kind: Tenant
    scope: Cluster
    spec:
      name: string | required=true
    status:
      namespace: ${tenantNamespace.metadata.name}
  resources:
  - id: tenantNamespace
    template:
      apiVersion: v1
      kind: Namespace
      metadata:
        name: ${schema.spec.name}
  - id: settings
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: settings
        namespace: ${tenantNamespace.metadata.name}
  - id: role
    template:
      apiVersion: rbac.authorization.k8s.io/v1
      kind: ClusterRole
      metadata:
        name: ${schema.spec.name}-admin
      rules:
      - apiGroups: [""]
        resources: ["pods"]
        verbs: ["get"]
`)
	waitActive(t, c, "tenants")
	createInstance(t, c, "Tenant", "", "acme", map[string]any{"name": "acme"})
	u := waitState(t, c, kindGVK("Tenant"), "", "acme", v1alpha1.InstanceStateActive)
	got, _, _ := unstructured.NestedString(u.Object, "status", "namespace")
	require.Equal(t, "acme", got)
	require.Equal(t, "acme", u.GetAnnotations()[v1alpha1.AnnotationApplySetNamespaces])
	cm := mustGet(t, c, configMapGVK, "acme", "settings")
	require.NotContains(t, cm.GetLabels(), v1alpha1.LabelInstanceNamespace)
	require.Equal(t, "acme", cm.GetLabels()[v1alpha1.LabelInstanceName])
	role := mustGet(t, c, schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, "", "acme-admin")
	require.Equal(t, string(u.GetUID()), role.GetLabels()[v1alpha1.LabelInstanceID])

	// Drift on a cluster-scoped child is routed to the cluster-scoped instance.
	require.NoError(t, c.Delete(context.Background(), role))
	require.Eventually(t, func() bool {
		r, err := get(t, c, role.GroupVersionKind(), "", "acme-admin")
		return err == nil && r.GetUID() != role.GetUID()
	}, timeout, tick)
}

func TestExternalRefBySelector(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	createRGD(t, c, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: aggregators
spec:
  schema:
    apiVersion: v1alpha1
    kind: Aggregator
    spec:
      team: string | required=true
    status:
      found: ${size(teamConfigs)}
  resources:
  - id: teamConfigs
    externalRef:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        selector:
          matchLabels:
            team: ${schema.spec.team}
  - id: index
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.team}-index
      data:
        names: ${teamConfigs.map(c, c.metadata.name).join(",")}
`)
	waitActive(t, c, "aggregators")
	ns := namespace(t, c, "aggregate")
	for _, n := range []string{"a", "b"} {
		cm := parse(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "+n+"\n  labels:\n    team: blue\n")
		cm.SetNamespace(ns)
		require.NoError(t, c.Create(ctx, cm))
	}
	createInstance(t, c, "Aggregator", ns, "blue", map[string]any{"team": "blue"})
	require.Eventually(t, func() bool {
		u, err := get(t, c, configMapGVK, ns, "blue-index")
		return err == nil && u.Object["data"].(map[string]any)["names"] == "a,b"
	}, timeout, tick)
	cm := parse(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n    team: blue\n")
	cm.SetNamespace(ns)
	require.NoError(t, c.Create(ctx, cm))
	require.Eventually(t, func() bool {
		u, err := get(t, c, configMapGVK, ns, "blue-index")
		return err == nil && u.Object["data"].(map[string]any)["names"] == "a,b,c"
	}, timeout, tick, "a new match of the selector re-reconciles dependents")
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		u := mustGet(collect, c, kindGVK("Aggregator"), ns, "blue")
		found, _, _ := unstructured.NestedInt64(u.Object, "status", "found")
		assert.True(collect, found == 3 && state(u) == v1alpha1.InstanceStateActive)
	}, timeout, tick, "status counts the three matches")

	// As in kro, a selector without a namespace matches in every namespace.
	other := namespace(t, c, "aggregate-other")
	cm = parse(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n  labels:\n    team: blue\n")
	cm.SetNamespace(other)
	require.NoError(t, c.Create(ctx, cm))
	require.Eventually(t, func() bool {
		u := mustGet(t, c, kindGVK("Aggregator"), ns, "blue")
		found, _, _ := unstructured.NestedInt64(u.Object, "status", "found")
		return found == 4
	}, timeout, tick, "a match in another namespace counts too")
}
