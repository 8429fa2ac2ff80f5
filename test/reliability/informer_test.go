package reliability

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/controller/rgd"
	"github.com/korvid/korvid/internal/options"
)

// gadgetCRD serves example.com Gadgets in v1 (stored) and v2, converted by
// a webhook nothing answers: any list of v2 that holds an object fails, so
// an informer of v2 never syncs.
func gadgetCRD() *extv1.CustomResourceDefinition {
	s := &extv1.CustomResourceValidation{OpenAPIV3Schema: &extv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]extv1.JSONSchemaProps{
			"spec": {Type: "object", Properties: map[string]extv1.JSONSchemaProps{"size": {Type: "integer"}}},
		},
	}}
	url := "https://127.0.0.1:1/convert"
	return &extv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "gadgets.example.com"},
		Spec: extv1.CustomResourceDefinitionSpec{
			Group: "example.com",
			Names: extv1.CustomResourceDefinitionNames{Plural: "gadgets", Singular: "gadget", Kind: "Gadget", ListKind: "GadgetList"},
			Scope: extv1.NamespaceScoped,
			Versions: []extv1.CustomResourceDefinitionVersion{
				{Name: "v1", Served: true, Storage: true, Schema: s},
				{Name: "v2", Served: true, Schema: s},
			},
			Conversion: &extv1.CustomResourceConversion{
				Strategy: extv1.WebhookConverter,
				Webhook: &extv1.WebhookConversion{
					ClientConfig:             &extv1.WebhookClientConfig{URL: &url},
					ConversionReviewVersions: []string{"v1"},
				},
			},
		},
	}
}

// An informer that cannot sync is stopped after the sync timeout and its
// kind reported on the RGD; meanwhile no worker waits for it and other
// kinds keep being reconciled.
func TestInformerThatNeverSyncsIsReported(t *testing.T) {
	ctx := context.Background()
	crd := gadgetCRD()
	require.NoError(t, env.Client.Create(ctx, crd))
	t.Cleanup(func() { _ = env.Client.Delete(ctx, crd) })
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		got := &extv1.CustomResourceDefinition{}
		if assert.NoError(c, env.Client.Get(ctx, client.ObjectKeyFromObject(crd), got)) {
			assert.True(c, apihelpers.IsCRDConditionTrue(got, extv1.Established))
		}
	}, timeout, tick)
	// A Gadget stored as v1, labelled like a child: listing v2 needs the
	// conversion webhook.
	g := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"size": int64(1)}}}
	g.SetGroupVersionKind(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Gadget"})
	g.SetNamespace("default")
	g.SetName("stored-v1")
	g.SetLabels(map[string]string{v1alpha1.LabelOwned: "true"})
	require.NoError(t, env.Client.Create(ctx, g))

	startControllerWith(t, env.Config, func(o *options.Controller) { o.InformerSyncTimeout = 3 * time.Second })
	createRGD(t, `
metadata: {name: gadget-holder}
spec:
  schema:
    apiVersion: v1alpha1
    kind: GadgetHolder
    spec:
      size: integer | default=1
  resources:
  - id: gadget
    template:
      apiVersion: example.com/v2
      kind: Gadget
      metadata: {name: "${schema.metadata.name}-g"}
      spec: {size: "${schema.spec.size}"}
`)
	createRGD(t, configMapRGD("gadget-neighbour", "GadgetNeighbour"))
	createInstance(t, "GadgetHolder", "default", "h", map[string]any{})

	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		got := &v1alpha1.ResourceGraphDefinition{}
		if !assert.NoError(c, env.Client.Get(ctx, client.ObjectKey{Name: "gadget-holder"}, got)) {
			return
		}
		cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionControllerReady)
		if assert.NotNil(c, cond) {
			assert.Equal(c, rgd.ReasonWatchFailed, cond.Reason)
			assert.True(c, strings.Contains(cond.Message, "Gadget"), "the condition names the kind: %s", cond.Message)
		}
	}, timeout, tick, "the kind whose informer never synced is reported on the RGD")

	// Another kind is reconciled meanwhile.
	waitRGDState(t, "gadget-neighbour", v1alpha1.ResourceGraphDefinitionStateActive)
	createInstance(t, "GadgetNeighbour", "default", "n", map[string]any{})
	waitInstanceState(t, "GadgetNeighbour", "default", "n", v1alpha1.InstanceStateActive)
}
