package reliability

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/test/rgdtest"
)

// A controller restarted while the newest revision of an RGD does not
// compile still deletes the kind's instances, children first.
func TestRestartWithBrokenRevisionKeepsInstancesDeletable(t *testing.T) {
	ctx := context.Background()
	stop := startController(t)
	createRGD(t, configMapRGD("restart-broken", "RestartBroken"))
	waitRGDState(t, "restart-broken", v1alpha1.ResourceGraphDefinitionStateActive)
	createInstance(t, "RestartBroken", "default", "one", map[string]any{"value": "x"})
	waitInstanceState(t, "RestartBroken", "default", "one", v1alpha1.InstanceStateActive)
	waitExists(t, configMapGVK, "default", "one-cm")
	stop()

	// No webhook in this suite: the broken spec is stored, as when the
	// webhook is bypassed.
	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Name: "restart-broken"}, rgd))
	rgd.Spec.Resources[0].Template.Raw = []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${schema.metadata.name}-cm"},"data":{"value":"${schema.spec.nope}"}}`)
	require.NoError(t, env.Client.Update(ctx, rgd))

	startController(t)
	waitRGDState(t, "restart-broken", v1alpha1.ResourceGraphDefinitionStateInactive)
	deleteObject(t, kindGVK("RestartBroken"), "default", "one")
	waitGone(t, configMapGVK, "default", "one-cm")
	waitGone(t, kindGVK("RestartBroken"), "default", "one")
}

// Deleting an RGD together with its instances (kubectl delete -f dir/)
// completes: the RGD's finalizer waits until the instances are gone, and a
// controller keeps deleting their children meanwhile.
func TestDeletedRGDWaitsForItsInstances(t *testing.T) {
	ctx := context.Background()
	startController(t)
	createRGD(t, configMapRGD("delete-together", "DeleteTogether"))
	waitRGDState(t, "delete-together", v1alpha1.ResourceGraphDefinitionStateActive)
	createInstance(t, "DeleteTogether", "default", "held", map[string]any{})
	waitInstanceState(t, "DeleteTogether", "default", "held", v1alpha1.InstanceStateActive)
	waitExists(t, configMapGVK, "default", "held-cm")

	// A second finalizer keeps the instance terminating for a while.
	inst, err := get(kindGVK("DeleteTogether"), "default", "held")
	require.NoError(t, err)
	inst.SetFinalizers(append(inst.GetFinalizers(), "example.com/hold"))
	require.NoError(t, env.Client.Update(ctx, inst))

	deleteObject(t, kindGVK("DeleteTogether"), "default", "held")
	require.NoError(t, env.Client.Delete(ctx, &v1alpha1.ResourceGraphDefinition{ObjectMeta: metav1.ObjectMeta{Name: "delete-together"}}))
	waitGone(t, configMapGVK, "default", "held-cm")
	assert.Never(t, func() bool {
		err := env.Client.Get(ctx, client.ObjectKey{Name: "delete-together"}, &v1alpha1.ResourceGraphDefinition{})
		return err != nil
	}, 3*time.Second, tick, "the RGD went while its instance still existed")

	inst, err = get(kindGVK("DeleteTogether"), "default", "held")
	require.NoError(t, err)
	assert.NotContains(t, inst.GetFinalizers(), v1alpha1.Finalizer, "korvid released the instance once its children were gone")
	inst.SetFinalizers(nil)
	require.NoError(t, env.Client.Update(ctx, inst))
	waitGone(t, kindGVK("DeleteTogether"), "default", "held")
	waitGone(t, schema.GroupVersionKind{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version, Kind: "ResourceGraphDefinition"}, "", "delete-together")
}

// An RGD deleted with kro.run/allow-delete-with-instances releases the
// instances it leaves: their finalizer is removed, their children stay, and
// deleting them later does not hang.
func TestAllowDeleteWithInstancesReleasesThem(t *testing.T) {
	ctx := context.Background()
	startController(t)
	createRGD(t, configMapRGD("leave-behind", "LeaveBehind"))
	waitRGDState(t, "leave-behind", v1alpha1.ResourceGraphDefinitionStateActive)
	createInstance(t, "LeaveBehind", "default", "left", map[string]any{})
	waitInstanceState(t, "LeaveBehind", "default", "left", v1alpha1.InstanceStateActive)
	waitExists(t, configMapGVK, "default", "left-cm")

	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Name: "leave-behind"}, rgd))
	rgd.Annotations = map[string]string{v1alpha1.AnnotationAllowDeleteWithInstances: "true"}
	require.NoError(t, env.Client.Update(ctx, rgd))
	require.NoError(t, env.Client.Delete(ctx, rgd))
	waitGone(t, schema.GroupVersionKind{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version, Kind: "ResourceGraphDefinition"}, "", "leave-behind")

	inst, err := get(kindGVK("LeaveBehind"), "default", "left")
	require.NoError(t, err)
	assert.NotContains(t, inst.GetFinalizers(), v1alpha1.Finalizer)
	deleteObject(t, kindGVK("LeaveBehind"), "default", "left")
	waitGone(t, kindGVK("LeaveBehind"), "default", "left")
	_, err = get(configMapGVK, "default", "left-cm")
	assert.NoError(t, err, "the children of a released instance are left in place")
}

// A child kind whose CRD disappeared while the controller was down is an
// empty inventory: the RGD no longer compiles (no verified revision is
// usable), the controller works from the label inventory alone, and the
// instance is deleted.
func TestChildKindGoneAfterRestart(t *testing.T) {
	ctx := context.Background()
	crd := widgetCRD()
	require.NoError(t, env.Client.Create(ctx, crd))
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		got := &extv1.CustomResourceDefinition{}
		if assert.NoError(c, env.Client.Get(ctx, client.ObjectKeyFromObject(crd), got)) {
			assert.True(c, apihelpers.IsCRDConditionTrue(got, extv1.Established))
		}
	}, timeout, tick)

	stop := startController(t)
	createRGD(t, `
metadata: {name: widget-holder}
spec:
  schema:
    apiVersion: v1alpha1
    kind: WidgetHolder
    spec:
      size: integer | default=1
  resources:
  - id: widget
    template:
      apiVersion: example.com/v1
      kind: Widget
      metadata: {name: "${schema.metadata.name}-w"}
      spec: {size: "${schema.spec.size}"}
`)
	waitRGDState(t, "widget-holder", v1alpha1.ResourceGraphDefinitionStateActive)
	createInstance(t, "WidgetHolder", "default", "w", map[string]any{})
	waitInstanceState(t, "WidgetHolder", "default", "w", v1alpha1.InstanceStateActive)
	stop()

	require.NoError(t, env.Client.Delete(ctx, crd))
	waitGone(t, schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}, "", crd.Name)

	startController(t)
	waitRGDState(t, "widget-holder", v1alpha1.ResourceGraphDefinitionStateInactive)
	deleteObject(t, kindGVK("WidgetHolder"), "default", "w")
	waitGone(t, kindGVK("WidgetHolder"), "default", "w")
}

func widgetCRD() *extv1.CustomResourceDefinition {
	return rgdtest.CRD("example.com", "v1", "Widget", map[string]extv1.JSONSchemaProps{"size": {Type: "integer"}})
}
