package controller_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/test/rgdtest"
)

const webAppRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: webapps
spec:
  schema:
    apiVersion: v1alpha1
    kind: WebApp
    spec:
      name: string | required=true
      image: string | default="nginx:1.27"
      replicas: integer | default=1
      port: integer | default=80
    status:
      availableReplicas: ${deployment.status.availableReplicas}
      configName: ${config.metadata.name}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-config
      data:
        image: ${schema.spec.image}
  - id: deployment
    readyWhen:
    - ${deployment.status.availableReplicas == deployment.spec.replicas}
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${schema.spec.name}
      spec:
        replicas: ${schema.spec.replicas}
        selector:
          matchLabels:
            app: ${schema.spec.name}
        template:
          metadata:
            labels:
              app: ${schema.spec.name}
          spec:
            containers:
            - name: web
              image: ${config.data.image}
  - id: service
    template:
      apiVersion: v1
      kind: Service
      metadata:
        name: ${deployment.metadata.name}
      spec:
        selector: ${deployment.spec.selector.matchLabels}
        ports:
        - port: ${schema.spec.port}
`

func TestWebAppLifecycle(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	createRGD(t, c, webAppRGD)
	rgd := waitActive(t, c, "webapps")

	t.Run("RGD status publishes the graph and its kind is served", func(t *testing.T) {
		require.Equal(t, []string{"config", "deployment", "service"}, rgd.Status.TopologicalOrder)
		require.Equal(t, []v1alpha1.ResourceInformation{
			{ID: "config"},
			{ID: "deployment", Dependencies: []v1alpha1.Dependency{{ID: "config"}}},
			{ID: "service", Dependencies: []v1alpha1.Dependency{{ID: "deployment"}}},
		}, rgd.Status.Resources)
		for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionGraphAccepted, v1alpha1.ConditionKindReady, v1alpha1.ConditionControllerReady} {
			cond := rgdCondition(rgd, typ)
			require.NotNil(t, cond, typ)
			require.Equal(t, metav1.ConditionTrue, cond.Status, "%s: %s", typ, cond.Message)
			require.Equal(t, rgd.Generation, cond.ObservedGeneration)
		}
		// kro's wording, which tools and kro's own tests compare.
		for typ, want := range map[string][2]string{
			v1alpha1.ConditionReady:           {"Ready", ""},
			v1alpha1.ConditionGraphAccepted:   {"Valid", "resource graph and schema are valid"},
			v1alpha1.ConditionKindReady:       {"Ready", "kind WebApp has been accepted and ready"},
			v1alpha1.ConditionControllerReady: {"Running", "controller is running"},
			"GraphRevisionsResolved":          {"Resolved", "revision 1 compiled and active"},
		} {
			cond := rgdCondition(rgd, typ)
			require.NotNil(t, cond, typ)
			require.Equal(t, want[0], cond.Reason, typ)
			require.Equal(t, want[1], cond.Message, typ)
		}
		require.True(t, crdEstablished(t, c, "webapps.kro.run"))
		require.Contains(t, rgd.Finalizers, v1alpha1.Finalizer)
	})

	ns := namespace(t, c, "lifecycle")
	inst := createInstance(t, c, "WebApp", ns, "shop", map[string]any{"name": "shop", "replicas": int64(2)})

	checkChild := func(t *testing.T, id string, obj *unstructured.Unstructured) {
		t.Helper()
		l := obj.GetLabels()
		require.Equal(t, "true", l[v1alpha1.LabelOwned], id)
		require.Equal(t, string(inst.GetUID()), l[v1alpha1.LabelInstanceID], id)
		require.Equal(t, "shop", l[v1alpha1.LabelInstanceName], id)
		require.Equal(t, ns, l[v1alpha1.LabelInstanceNamespace], id)
		require.Equal(t, "WebApp", l[v1alpha1.LabelInstanceKind], id)
		require.Equal(t, "kro.run", l[v1alpha1.LabelInstanceGroup], id)
		require.Equal(t, "v1alpha1", l[v1alpha1.LabelInstanceVersion], id)
		require.Equal(t, id, l[v1alpha1.LabelNodeID], id)
		require.Equal(t, "kro", l[v1alpha1.LabelManagedBy], id)
		require.Equal(t, inst.GetLabels()[v1alpha1.LabelApplySetID], l[v1alpha1.LabelApplySetPartOf], id)
		require.Empty(t, obj.GetOwnerReferences(), id)
		var managers []string
		for _, mf := range obj.GetManagedFields() {
			if mf.Operation == metav1.ManagedFieldsOperationApply {
				managers = append(managers, mf.Manager)
			}
		}
		require.Contains(t, managers, v1alpha1.FieldManager, id)
	}

	t.Run("children are applied with ownership labels by the applyset field manager", func(t *testing.T) {
		cm := eventuallyGet(t, c, configMapGVK, ns, "shop-config")
		dep := eventuallyGet(t, c, deploymentGVK, ns, "shop")
		inst = mustGet(t, c, kindGVK("WebApp"), ns, "shop")
		checkChild(t, "config", cm)
		checkChild(t, "deployment", dep)
		require.Equal(t, "nginx:1.27", mustNested(t, dep, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["image"])
		require.Contains(t, inst.GetFinalizers(), v1alpha1.Finalizer)
		require.Equal(t, "webapps", inst.GetLabels()[v1alpha1.LabelRGDName])
		require.Equal(t, string(rgd.UID), inst.GetLabels()[v1alpha1.LabelRGDID])
		require.Equal(t, "ConfigMap,Deployment.apps,Service", inst.GetAnnotations()[v1alpha1.AnnotationApplySetGroupKinds])
		require.True(t, strings.HasPrefix(inst.GetAnnotations()[v1alpha1.AnnotationApplySetTooling], "korvid/"))
	})

	t.Run("IN_PROGRESS and the service waits until the deployment is ready, then ACTIVE with projected status", func(t *testing.T) {
		u := waitState(t, c, kindGVK("WebApp"), ns, "shop", v1alpha1.InstanceStateInProgress)
		rr := condition(u, v1alpha1.ConditionResourcesReady)
		require.NotNil(t, rr)
		require.Equal(t, "False", rr["status"])
		require.Equal(t, "NotReady", rr["reason"])
		// As in kro, a node waiting for its inputs leaves the graph resolved
		// and is reported, with what it waits for, on ResourcesReady.
		require.Contains(t, rr["message"], "awaiting resource readiness: ")
		require.Contains(t, rr["message"], "service: waiting for deployment to become ready")
		gr := condition(u, v1alpha1.ConditionGraphResolved)
		require.Equal(t, "True", gr["status"])
		cfgName, _, _ := unstructured.NestedString(u.Object, "status", "configName")
		require.Equal(t, "shop-config", cfgName, "status is projected as soon as its inputs resolve")
		_, err := get(t, c, serviceGVK, ns, "shop")
		require.True(t, apierrors.IsNotFound(err), "a dependent of a node that is not ready must wait")

		dep := mustGet(t, c, deploymentGVK, ns, "shop")
		require.NoError(t, unstructured.SetNestedField(dep.Object, int64(2), "status", "availableReplicas"))
		require.NoError(t, unstructured.SetNestedField(dep.Object, int64(2), "status", "replicas"))
		require.NoError(t, unstructured.SetNestedField(dep.Object, int64(2), "status", "readyReplicas"))
		require.NoError(t, c.Status().Update(ctx, dep))

		checkChild(t, "service", eventuallyGet(t, c, serviceGVK, ns, "shop"))
		u = waitState(t, c, kindGVK("WebApp"), ns, "shop", v1alpha1.InstanceStateActive)
		avail, _, _ := unstructured.NestedInt64(u.Object, "status", "availableReplicas")
		require.Equal(t, int64(2), avail)
		for _, typ := range []string{v1alpha1.ConditionInstanceManaged, v1alpha1.ConditionGraphResolved, v1alpha1.ConditionResourcesReady, v1alpha1.ConditionReady} {
			cond := condition(u, typ)
			require.NotNil(t, cond, typ)
			require.Equal(t, "True", cond["status"], typ)
			require.Equal(t, u.GetGeneration(), cond["observedGeneration"], typ)
		}
	})

	t.Run("state transitions are recorded as events", func(t *testing.T) {
		require.EventuallyWithT(t, func(collect *assert.CollectT) {
			list := &eventsv1.EventList{}
			require.NoError(collect, c.List(ctx, list, client.InNamespace(ns)))
			reasons := map[string]bool{}
			for _, e := range list.Items {
				if e.Regarding.Kind == "WebApp" && e.Regarding.Name == "shop" {
					reasons[e.Reason] = true
				}
			}
			assert.True(collect, reasons["Active"], "reaching ACTIVE is an event")
			assert.False(collect, reasons["InProgress"], "a new instance's first state is not an event")
		}, timeout, tick)
	})

	t.Run("drift is reverted and unmanaged fields are kept", func(t *testing.T) {
		cm := mustGet(t, c, configMapGVK, ns, "shop-config")
		require.NoError(t, c.Delete(ctx, cm))
		require.Eventually(t, func() bool {
			u, err := get(t, c, configMapGVK, ns, "shop-config")
			return err == nil && u.GetUID() != cm.GetUID()
		}, timeout, tick, "deleted child was not recreated")

		dep := mustGet(t, c, deploymentGVK, ns, "shop")
		require.NoError(t, unstructured.SetNestedField(dep.Object, int64(7), "spec", "replicas"))
		require.NoError(t, c.Update(ctx, dep))
		require.EventuallyWithT(t, func(collect *assert.CollectT) {
			u := mustGet(collect, c, deploymentGVK, ns, "shop")
			r, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
			assert.True(collect, r == 2)
		}, timeout, tick, "edited managed field was not reverted")

		svc := mustGet(t, c, serviceGVK, ns, "shop")
		l := svc.GetLabels()
		l["team"] = "payments"
		svc.SetLabels(l)
		require.NoError(t, c.Update(ctx, svc))
		// A managed-field edit on the same object forces a re-apply; the
		// unmanaged label must survive it.
		svc = mustGet(t, c, serviceGVK, ns, "shop")
		require.NoError(t, unstructured.SetNestedField(svc.Object, map[string]any{"app": "other"}, "spec", "selector"))
		require.NoError(t, c.Update(ctx, svc))
		require.EventuallyWithT(t, func(collect *assert.CollectT) {
			u := mustGet(collect, c, serviceGVK, ns, "shop")
			sel, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector")
			assert.True(collect, sel["app"] == "shop")
		}, timeout, tick, "service selector was not reverted")
		require.Equal(t, "payments", mustGet(t, c, serviceGVK, ns, "shop").GetLabels()["team"])
	})

	t.Run("deletion goes in reverse topological waves and releases the finalizer", func(t *testing.T) {
		// Hold the last wave (the service) with a finalizer of our own.
		svc := mustGet(t, c, serviceGVK, ns, "shop")
		svc.SetFinalizers(append(svc.GetFinalizers(), "test.korvid.io/hold"))
		require.NoError(t, c.Update(ctx, svc))

		require.NoError(t, c.Delete(ctx, mustGet(t, c, kindGVK("WebApp"), ns, "shop")))
		waitState(t, c, kindGVK("WebApp"), ns, "shop", v1alpha1.InstanceStateDeleting)
		require.EventuallyWithT(t, func(collect *assert.CollectT) {
			assert.True(collect, !mustGet(collect, c, serviceGVK, ns, "shop").GetDeletionTimestamp().IsZero())
		}, timeout, tick, "service was not deleted first")
		// The deployment waits for the service to be gone.
		time.Sleep(2 * time.Second)
		dep := mustGet(t, c, deploymentGVK, ns, "shop")
		require.True(t, dep.GetDeletionTimestamp().IsZero(), "deployment deleted before its dependent service was gone")
		mustGet(t, c, configMapGVK, ns, "shop-config")

		svc = mustGet(t, c, serviceGVK, ns, "shop")
		svc.SetFinalizers(slices.DeleteFunc(svc.GetFinalizers(), func(s string) bool { return s == "test.korvid.io/hold" }))
		require.NoError(t, c.Update(ctx, svc))
		eventuallyGone(t, c, serviceGVK, ns, "shop")
		eventuallyGone(t, c, deploymentGVK, ns, "shop")
		eventuallyGone(t, c, configMapGVK, ns, "shop-config")
		eventuallyGone(t, c, kindGVK("WebApp"), ns, "shop")
	})
}

func mustNested(t *testing.T, u *unstructured.Unstructured, path ...string) any {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(u.Object, path...)
	require.NoError(t, err)
	require.True(t, ok, "%v missing", path)
	return v
}

func TestInvalidRGDIsInactive(t *testing.T) {
	c := start(t)
	// The ConfigMap's name misspells the spec field.
	createRGDObject(t, c, rgdtest.New("broken", "Broken").Spec("name", "string").
		ConfigMap("config", "${schema.spec.nmae}", nil).Build())
	var rgd *v1alpha1.ResourceGraphDefinition
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		rgd = getRGD(collect, c, "broken")
		assert.True(collect, rgdCondition(rgd, v1alpha1.ConditionGraphAccepted) != nil)
	}, timeout, tick)
	require.Equal(t, v1alpha1.ResourceGraphDefinitionStateInactive, rgd.Status.State)
	cond := rgdCondition(rgd, v1alpha1.ConditionGraphAccepted)
	require.Equal(t, metav1.ConditionFalse, cond.Status)
	require.Equal(t, v1alpha1.ReasonInvalidResourceGraph, cond.Reason)
	require.Contains(t, cond.Message, "spec.resources[0].template.metadata.name")
	require.Contains(t, cond.Message, "nmae")
	ready := rgdCondition(rgd, v1alpha1.ConditionReady)
	require.Equal(t, metav1.ConditionFalse, ready.Status)
	require.False(t, crdEstablished(t, c, "brokens.kro.run"))
}

func TestPendingUpstreamWaitsWhileIndependentNodesProceed(t *testing.T) {
	c := start(t)
	createRGD(t, c, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: pendings
spec:
  schema:
    apiVersion: v1alpha1
    kind: Pending
    spec:
      name: string | required=true
  resources:
  - id: deployment
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${schema.spec.name}
      spec:
        selector:
          matchLabels:
            app: ${schema.spec.name}
        template:
          metadata:
            labels:
              app: ${schema.spec.name}
          spec:
            containers:
            - name: web
              image: nginx
  - id: summary
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-summary
      data:
        available: ${string(deployment.status.availableReplicas)}
  - id: independent
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-independent
      data:
        name: ${schema.spec.name}
`)
	waitActive(t, c, "pendings")
	ns := namespace(t, c, "pending")
	createInstance(t, c, "Pending", ns, "p1", map[string]any{"name": "p1"})
	eventuallyGet(t, c, deploymentGVK, ns, "p1")
	eventuallyGet(t, c, configMapGVK, ns, "p1-independent")
	var u *unstructured.Unstructured
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		u = mustGet(collect, c, kindGVK("Pending"), ns, "p1")
		cond := condition(u, v1alpha1.ConditionResourcesReady)
		assert.True(collect, cond != nil && cond["status"] == "False")
	}, timeout, tick)
	require.Equal(t, v1alpha1.InstanceStateInProgress, state(u))
	// As in kro, a node waiting for data leaves the graph resolved; the wait
	// is reported on ResourcesReady.
	require.Equal(t, "True", condition(u, v1alpha1.ConditionGraphResolved)["status"])
	msg := condition(u, v1alpha1.ConditionResourcesReady)["message"].(string)
	require.Contains(t, msg, "summary")
	require.Contains(t, msg, "availableReplicas")
	_, err := get(t, c, configMapGVK, ns, "p1-summary")
	require.True(t, apierrors.IsNotFound(err), "the waiting node must not be created")

	dep := mustGet(t, c, deploymentGVK, ns, "p1")
	require.NoError(t, unstructured.SetNestedField(dep.Object, int64(1), "status", "availableReplicas"))
	require.NoError(t, unstructured.SetNestedField(dep.Object, int64(1), "status", "readyReplicas"))
	require.NoError(t, unstructured.SetNestedField(dep.Object, int64(1), "status", "replicas"))
	require.NoError(t, c.Status().Update(context.Background(), dep))
	cm := eventuallyGet(t, c, configMapGVK, ns, "p1-summary")
	require.Equal(t, "1", cm.Object["data"].(map[string]any)["available"])
	waitState(t, c, kindGVK("Pending"), ns, "p1", v1alpha1.InstanceStateActive)
}

func TestIncludeWhenCreatesAndPrunes(t *testing.T) {
	c := start(t)
	createRGD(t, c, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: toggles
spec:
  schema:
    apiVersion: v1alpha1
    kind: Toggle
    spec:
      name: string | required=true
      withExtra: boolean | default=false
  resources:
  - id: base
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}
  - id: extra
    includeWhen:
    - ${schema.spec.withExtra}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-extra
  - id: extraSecret
    template:
      apiVersion: v1
      kind: Secret
      metadata:
        name: ${extra.metadata.name}
`)
	waitActive(t, c, "toggles")
	ns := namespace(t, c, "toggle")
	createInstance(t, c, "Toggle", ns, "t1", map[string]any{"name": "t1"})
	waitState(t, c, kindGVK("Toggle"), ns, "t1", v1alpha1.InstanceStateActive)
	mustGet(t, c, configMapGVK, ns, "t1")
	_, err := get(t, c, configMapGVK, ns, "t1-extra")
	require.True(t, apierrors.IsNotFound(err))
	_, err = get(t, c, secretGVK, ns, "t1-extra")
	require.True(t, apierrors.IsNotFound(err), "a dependent of an excluded node is skipped")

	patchSpec(t, c, "Toggle", ns, "t1", map[string]any{"withExtra": true})
	eventuallyGet(t, c, configMapGVK, ns, "t1-extra")
	eventuallyGet(t, c, secretGVK, ns, "t1-extra")

	patchSpec(t, c, "Toggle", ns, "t1", map[string]any{"withExtra": false})
	eventuallyGone(t, c, configMapGVK, ns, "t1-extra")
	eventuallyGone(t, c, secretGVK, ns, "t1-extra")
	mustGet(t, c, configMapGVK, ns, "t1")
	waitState(t, c, kindGVK("Toggle"), ns, "t1", v1alpha1.InstanceStateActive)
}

// rollout is the RGD TestRGDUpdateRollsOutAndPrunesRemovedResources
// updates: the revision its first ConfigMap holds, and whether its second
// resource (a Secret) is there.
func rollout(revision string, withSecond bool) *v1alpha1.ResourceGraphDefinition {
	b := rgdtest.New("rollouts", "Rollout").Spec("name", "string | required=true").
		ConfigMap("first", "${schema.spec.name}-first", map[string]any{"revision": revision})
	if withSecond {
		b.Resource("second", map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "${schema.spec.name}-second"}})
	}
	return b.Build()
}

func TestRGDUpdateRollsOutAndPrunesRemovedResources(t *testing.T) {
	c := start(t)
	createRGDObject(t, c, rollout("1", true))
	waitActive(t, c, "rollouts")
	ns := namespace(t, c, "rollout")
	for _, n := range []string{"r1", "r2"} {
		createInstance(t, c, "Rollout", ns, n, map[string]any{"name": n})
	}
	for _, n := range []string{"r1", "r2"} {
		waitState(t, c, kindGVK("Rollout"), ns, n, v1alpha1.InstanceStateActive)
		mustGet(t, c, secretGVK, ns, n+"-second")
	}

	updateSpec(t, c, "rollouts", rollout("2", false).Spec)

	for _, n := range []string{"r1", "r2"} {
		eventuallyGone(t, c, secretGVK, ns, n+"-second")
		require.EventuallyWithT(t, func(collect *assert.CollectT) {
			cm := mustGet(collect, c, configMapGVK, ns, n+"-first")
			assert.True(collect, cm.Object["data"].(map[string]any)["revision"] == "2")
		}, timeout, tick)
	}
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		assert.True(collect, mustGet(collect, c, kindGVK("Rollout"), ns, "r1").GetAnnotations()[v1alpha1.AnnotationApplySetGroupKinds] == "ConfigMap")
	}, timeout, tick, "the ApplySet group kinds shrink after pruning")
	require.Equal(t, []string{"first"}, waitActive(t, c, "rollouts").Status.TopologicalOrder)
}

func TestSuspendedInstanceIsNotReconciled(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	createRGDObject(t, c, rgdtest.New("suspends", "Suspend").Spec("value", "string | default=a").
		ConfigMap("config", "${schema.metadata.name}", map[string]any{"value": "${schema.spec.value}"}).Build())
	waitActive(t, c, "suspends")
	ns := namespace(t, c, "suspend")
	createInstance(t, c, "Suspend", ns, "s1", map[string]any{"value": "a"})
	active := waitState(t, c, kindGVK("Suspend"), ns, "s1", v1alpha1.InstanceStateActive)
	for typ, want := range map[string][2]string{
		v1alpha1.ConditionInstanceManaged: {"Managed", "instance is properly managed with finalizers and labels"},
		v1alpha1.ConditionGraphResolved:   {"Resolved", "runtime graph created and all resources resolved"},
		v1alpha1.ConditionResourcesReady:  {"AllResourcesReady", "all resources are created and ready"},
		v1alpha1.ConditionReady:           {"Ready", ""},
	} {
		got := condition(active, typ)
		require.NotNil(t, got, typ)
		require.Equal(t, "True", got["status"], typ)
		require.Equal(t, want[0], got["reason"], typ)
		require.Equal(t, want[1], got["message"], typ)
		require.EqualValues(t, active.GetGeneration(), got["observedGeneration"], typ)
	}

	u := mustGet(t, c, kindGVK("Suspend"), ns, "s1")
	// kro reads the annotation case-insensitively.
	u.SetAnnotations(map[string]string{v1alpha1.AnnotationReconcile: "Suspended"})
	require.NoError(t, unstructured.SetNestedField(u.Object, "b", "spec", "value"))
	require.NoError(t, c.Update(ctx, u))
	assert.EventuallyWithT(t, func(ct *assert.CollectT) {
		got, err := get(t, c, kindGVK("Suspend"), ns, "s1")
		if !assert.NoError(ct, err) {
			return
		}
		rr := condition(got, v1alpha1.ConditionResourcesReady)
		if assert.NotNil(ct, rr) {
			assert.Equal(ct, "False", rr["status"])
			assert.Equal(ct, "ReconciliationSuspended", rr["reason"])
		}
		ready := condition(got, v1alpha1.ConditionReady)
		if assert.NotNil(ct, ready) {
			assert.Equal(ct, "False", ready["status"])
		}
	}, timeout, tick)
	require.Equal(t, "a", mustGet(t, c, configMapGVK, ns, "s1").Object["data"].(map[string]any)["value"])

	u = mustGet(t, c, kindGVK("Suspend"), ns, "s1")
	u.SetAnnotations(nil)
	require.NoError(t, c.Update(ctx, u))
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		assert.True(collect, mustGet(collect, c, configMapGVK, ns, "s1").Object["data"].(map[string]any)["value"] == "b")
	}, timeout, tick)
}

func TestChildOfAnotherInstanceIsAConflict(t *testing.T) {
	c := start(t)
	createRGDObject(t, c, claiming("claims", "Claim"))
	waitActive(t, c, "claims")
	ns := namespace(t, c, "claim")
	createInstance(t, c, "Claim", ns, "first", map[string]any{"target": "shared", "value": "first"})
	waitState(t, c, kindGVK("Claim"), ns, "first", v1alpha1.InstanceStateActive)
	first := mustGet(t, c, kindGVK("Claim"), ns, "first")

	createInstance(t, c, "Claim", ns, "second", map[string]any{"target": "shared", "value": "second"})
	u := waitState(t, c, kindGVK("Claim"), ns, "second", v1alpha1.InstanceStateError)
	rr := condition(u, v1alpha1.ConditionResourcesReady)
	require.Equal(t, "NotReady", rr["reason"], "kro's reason for a failed reconciliation")
	require.Contains(t, rr["message"], "resource reconciliation failed: ")
	require.Contains(t, rr["message"], "shared")
	require.Contains(t, rr["message"], "already exists and belongs to Claim "+ns+"/first", "the holder is named")
	cm := mustGet(t, c, configMapGVK, ns, "shared")
	require.Equal(t, string(first.GetUID()), cm.GetLabels()[v1alpha1.LabelInstanceID])
	require.Equal(t, "first", cm.Object["data"].(map[string]any)["value"])
}

func TestCollectionGrowsAndShrinks(t *testing.T) {
	c := start(t)
	createRGD(t, c, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: matrices
spec:
  schema:
    apiVersion: v1alpha1
    kind: Matrix
    spec:
      regions: "[]string"
      tiers: "[]string"
  resources:
  - id: cells
    forEach:
    - region: ${schema.spec.regions}
    - tier: ${schema.spec.tiers}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-${region}-${tier}
      data:
        region: ${region}
        tier: ${tier}
  - id: summary
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-summary
      data:
        cells: ${string(size(cells))}
`)
	waitActive(t, c, "matrices")
	ns := namespace(t, c, "matrix")
	cells := func() map[string]map[string]string {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(configMapGVK.GroupVersion().WithKind("ConfigMapList"))
		require.NoError(t, c.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelNodeID: "cells"}))
		out := map[string]map[string]string{}
		for _, i := range list.Items {
			if i.GetDeletionTimestamp().IsZero() {
				out[i.GetName()] = i.GetLabels()
			}
		}
		return out
	}
	summary := func() string {
		u, err := get(t, c, configMapGVK, ns, "m-summary")
		if err != nil {
			return ""
		}
		return u.Object["data"].(map[string]any)["cells"].(string)
	}
	createInstance(t, c, "Matrix", ns, "m", map[string]any{"regions": []any{"eu", "us"}, "tiers": []any{"web", "db", "cache"}})
	require.Eventually(t, func() bool { return len(cells()) == 6 && summary() == "6" }, timeout, tick)
	got := cells()
	require.Equal(t, "0", got["m-eu-web"][v1alpha1.LabelCollectionIndex])
	require.Equal(t, "5", got["m-us-cache"][v1alpha1.LabelCollectionIndex])
	require.Equal(t, "6", got["m-us-cache"][v1alpha1.LabelCollectionSize])
	waitState(t, c, kindGVK("Matrix"), ns, "m", v1alpha1.InstanceStateActive)

	patchSpec(t, c, "Matrix", ns, "m", map[string]any{"tiers": []any{"web", "db"}})
	require.Eventually(t, func() bool { return len(cells()) == 4 && summary() == "4" }, timeout, tick)
	got = cells()
	for _, n := range []string{"m-eu-web", "m-eu-db", "m-us-web", "m-us-db"} {
		require.Contains(t, got, n)
		require.Equal(t, "4", got[n][v1alpha1.LabelCollectionSize])
	}

	patchSpec(t, c, "Matrix", ns, "m", map[string]any{"regions": []any{"eu", "us", "ap"}, "tiers": []any{"web", "db", "cache"}})
	require.Eventually(t, func() bool { return len(cells()) == 9 && summary() == "9" }, timeout, tick)
}

func TestExternalRefIsReadNeverWritten(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	createRGD(t, c, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: consumers
spec:
  schema:
    apiVersion: v1alpha1
    kind: Consumer
    spec:
      configName: string | default="platform-settings"
    status:
      region: ${platform.data.region}
  resources:
  - id: platform
    externalRef:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.configName}
  - id: app
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-app
      data:
        region: ${platform.data.region}
`)
	waitActive(t, c, "consumers")
	ns := namespace(t, c, "consumer")
	createInstance(t, c, "Consumer", ns, "c1", map[string]any{})
	var u *unstructured.Unstructured
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		u = mustGet(collect, c, kindGVK("Consumer"), ns, "c1")
		cond := condition(u, v1alpha1.ConditionResourcesReady)
		assert.True(collect, cond != nil && cond["status"] == "False")
	}, timeout, tick)
	require.Equal(t, v1alpha1.InstanceStateInProgress, state(u))
	require.Contains(t, condition(u, v1alpha1.ConditionResourcesReady)["message"], "platform")
	require.Contains(t, condition(u, v1alpha1.ConditionResourcesReady)["message"], "platform-settings")

	ext := parse(t, `
apiVersion: v1
kind: ConfigMap
metadata:
  name: platform-settings
data:
  region: eu-west-1
`)
	ext.SetNamespace(ns)
	require.NoError(t, c.Create(ctx, ext))
	rv := ext.GetResourceVersion()
	app := eventuallyGet(t, c, configMapGVK, ns, "c1-app")
	require.Equal(t, "eu-west-1", app.Object["data"].(map[string]any)["region"])
	u = waitState(t, c, kindGVK("Consumer"), ns, "c1", v1alpha1.InstanceStateActive)
	region, _, _ := unstructured.NestedString(u.Object, "status", "region")
	require.Equal(t, "eu-west-1", region)

	got := mustGet(t, c, configMapGVK, ns, "platform-settings")
	require.Equal(t, rv, got.GetResourceVersion(), "the external reference was written")
	require.Empty(t, got.GetLabels())

	// A change of the reference re-reconciles its dependents.
	got.Object["data"] = map[string]any{"region": "us-east-1"}
	require.NoError(t, c.Update(ctx, got))
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		assert.True(collect, mustGet(collect, c, configMapGVK, ns, "c1-app").Object["data"].(map[string]any)["region"] == "us-east-1")
	}, timeout, tick)

	// Deleting the instance never deletes the reference.
	require.NoError(t, c.Delete(ctx, mustGet(t, c, kindGVK("Consumer"), ns, "c1")))
	eventuallyGone(t, c, kindGVK("Consumer"), ns, "c1")
	mustGet(t, c, configMapGVK, ns, "platform-settings")
}

func TestManyInstancesBecomeActive(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	c := start(t)
	createRGD(t, c, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: fleets
spec:
  schema:
    apiVersion: v1alpha1
    kind: Fleet
    spec:
      value: string | default=v
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-config
      data:
        value: ${schema.spec.value}
  - id: secret
    template:
      apiVersion: v1
      kind: Secret
      metadata:
        name: ${schema.metadata.name}-secret
      stringData:
        value: ${config.data.value}
  - id: service
    template:
      apiVersion: v1
      kind: Service
      metadata:
        name: ${schema.metadata.name}-svc
      spec:
        ports:
        - port: 80
`)
	waitActive(t, c, "fleets")
	ns := namespace(t, c, "fleet")
	const n = 200
	begin := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
				u.SetGroupVersionKind(kindGVK("Fleet"))
				u.SetNamespace(ns)
				u.SetName("f" + itoa(i))
				if err := c.Create(context.Background(), u); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	created := time.Since(begin)
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(kindGVK("Fleet").GroupVersion().WithKind("FleetList"))
		require.NoError(collect, c.List(context.Background(), list, client.InNamespace(ns)))
		active := 0
		for _, i := range list.Items {
			if state(&i) == v1alpha1.InstanceStateActive {
				active++
			}
		}
		assert.True(collect, active == n)
	}, 5*time.Minute, 500*time.Millisecond)
	require.GreaterOrEqual(t, metricValue(t, "korvid_child_applies_total", map[string]string{"kind": "Fleet", "result": "ok"}), float64(3*n))
	fleet := kindGVK("Fleet")
	require.GreaterOrEqual(t, metricValue(t, "controller_runtime_reconcile_time_seconds", map[string]string{"controller": "instance-Fleet." + fleet.Group}), float64(n))
	t.Logf("%d instances of a 3-resource RGD ACTIVE %s after the first was created (creating them took %s)", n, time.Since(begin).Round(time.Millisecond), created.Round(time.Millisecond))
}

func itoa(i int) string { return strconvItoa(i) }

// metricValue reads a counter's value, or a histogram's sample count, from
// the registry the manager serves.
func metricValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			if m.GetHistogram() != nil {
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}
