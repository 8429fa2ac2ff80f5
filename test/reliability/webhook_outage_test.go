package reliability

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/test/envtest"
)

// controllerUser is the identity of the controller in deploy/kustomize,
// which the instance webhooks exempt.
const controllerUser = "system:serviceaccount:korvid-system:korvid-controller"

// deadWebhooks installs the install's webhook configurations (the RGD
// webhooks and the instance webhooks, matchConditions included) pointing at
// a port nothing listens on: the webhook is down, and they fail closed. The
// instance webhooks match the given resource of kro.run/v1alpha1.
func deadWebhooks(t *testing.T, resource string) (restore func()) {
	t.Helper()
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "https://" + l.Addr().String()
	require.NoError(t, l.Close())

	dir := filepath.Join(envtest.RepoRoot(), "deploy", "kustomize", "webhook")
	var objs []client.Object
	for _, f := range []string{"manifests.yaml", "instance-webhooks.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		for _, doc := range bytes.Split(b, []byte("\n---")) {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &u.Object); err != nil || len(u.Object) == 0 {
				continue
			}
			instance := f == "instance-webhooks.yaml"
			scope := admissionregistrationv1.AllScopes
			rule := []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"kro.run"}, APIVersions: []string{"v1alpha1"}, Resources: []string{resource}, Scope: &scope},
			}}
			switch u.GetKind() {
			case "ValidatingWebhookConfiguration":
				c := &admissionregistrationv1.ValidatingWebhookConfiguration{}
				require.NoError(t, yaml.Unmarshal(doc, c))
				c.Name = "outage-" + u.GetName()
				for i := range c.Webhooks {
					c.Webhooks[i].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: ptrTo(dead + "/" + strconv.Itoa(i))}
					if instance {
						c.Webhooks[i].Rules = rule
					}
				}
				objs = append(objs, c)
			case "MutatingWebhookConfiguration":
				c := &admissionregistrationv1.MutatingWebhookConfiguration{}
				require.NoError(t, yaml.Unmarshal(doc, c))
				c.Name = "outage-" + u.GetName()
				for i := range c.Webhooks {
					c.Webhooks[i].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: ptrTo(dead + "/" + strconv.Itoa(i))}
					if instance {
						c.Webhooks[i].Rules = rule
					}
				}
				objs = append(objs, c)
			}
		}
	}
	require.Len(t, objs, 4)
	for _, o := range objs {
		require.NoError(t, env.Client.Create(ctx, o))
	}
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		for _, o := range objs {
			_ = env.Client.Delete(ctx, o)
		}
	}
	t.Cleanup(restore)
	return restore
}

func ptrTo[T any](v T) *T { return &v }

// While the webhook is down, RGD writes fail closed with a clear message,
// other kinds are unaffected, and the controller (exempt by identity) keeps
// reconciling instances and deletes them; when the webhook returns,
// everything proceeds.
func TestWebhookOutage(t *testing.T) {
	ctx := context.Background()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: controllerUser, Groups: []string{"system:masters"}}
	startControllerWith(t, cfg)
	createRGD(t, configMapRGD("outage-webhook", "WebhookOutage"))
	waitRGDState(t, "outage-webhook", v1alpha1.ResourceGraphDefinitionStateActive)
	createInstance(t, "WebhookOutage", "default", "kept", map[string]any{"value": "a"})
	createInstance(t, "WebhookOutage", "default", "removed", map[string]any{"value": "a"})
	waitInstanceState(t, "WebhookOutage", "default", "kept", v1alpha1.InstanceStateActive)
	waitInstanceState(t, "WebhookOutage", "default", "removed", v1alpha1.InstanceStateActive)

	restore := deadWebhooks(t, "webhookoutages")

	err := env.Client.Create(ctx, &v1alpha1.ResourceGraphDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "during-outage"},
		Spec:       v1alpha1.ResourceGraphDefinitionSpec{Schema: &v1alpha1.Schema{Kind: "DuringOutage", APIVersion: "v1alpha1"}},
	})
	require.Error(t, err, "RGD writes fail closed")
	assert.Contains(t, err.Error(), "failed calling webhook", "the message says the webhook could not be called")

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "unrelated-during-outage"}}
	require.NoError(t, env.Client.Create(ctx, cm), "kinds korvid does not serve are never intercepted")

	// The controller repairs drift on a child...
	deleteObject(t, configMapGVK, "default", "kept-cm")
	waitExists(t, configMapGVK, "default", "kept-cm")
	// ...and deletes an instance: children first, then its own finalizer,
	// an UPDATE the failing instance webhooks would refuse from anyone else.
	deleteObject(t, kindGVK("WebhookOutage"), "default", "removed")
	waitGone(t, configMapGVK, "default", "removed-cm")
	waitGone(t, kindGVK("WebhookOutage"), "default", "removed")

	u, err := get(kindGVK("WebhookOutage"), "default", "kept")
	require.NoError(t, err)
	require.NoError(t, unstructured.SetNestedField(u.Object, "b", "spec", "value"))
	require.Error(t, env.Client.Update(ctx, u), "a user's instance write fails closed during the outage")

	restore()
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		u, err := get(kindGVK("WebhookOutage"), "default", "kept")
		if !assert.NoError(c, err) {
			return
		}
		if !assert.NoError(c, unstructured.SetNestedField(u.Object, "b", "spec", "value")) {
			return
		}
		assert.NoError(c, env.Client.Update(ctx, u))
	}, timeout, tick, "the instance can be written again once the webhook is back")
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		cm, err := get(configMapGVK, "default", "kept-cm")
		if assert.NoError(c, err) {
			assert.Equal(c, "b", cm.Object["data"].(map[string]any)["value"])
		}
	}, timeout, tick)
}
