package security

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/trust"
)

func rgdObject(t *testing.T, src string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(src), &u.Object))
	u.SetAPIVersion("kro.run/v1alpha1")
	u.SetKind("ResourceGraphDefinition")
	return u
}

// refused asserts that creating obj as c fails at admission with an error
// naming every fragment (field paths and kinds).
func refused(t *testing.T, c client.Client, obj client.Object, fragments ...string) {
	t.Helper()
	err := c.Create(t.Context(), obj)
	require.Error(t, err, "%s %s was admitted", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName())
	assert.True(t, apierrors.IsInvalid(err) || apierrors.IsForbidden(err), "a denial, not a failure: %v", err)
	for _, f := range fragments {
		assert.Contains(t, err.Error(), f)
	}
}

func getRGD(t *testing.T, name string) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, env.Client.Get(t.Context(), client.ObjectKey{Name: name}, rgd))
	return rgd
}

// waitAccepted waits for the RGD's GraphAccepted condition to have the status.
func waitAccepted(t *testing.T, name string, status metav1.ConditionStatus) *metav1.Condition {
	t.Helper()
	var c *metav1.Condition
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		rgd := &v1alpha1.ResourceGraphDefinition{}
		if !assert.NoError(ct, env.Client.Get(context.Background(), client.ObjectKey{Name: name}, rgd)) {
			return
		}
		c = meta.FindStatusCondition(rgd.Status.Conditions, v1alpha1.ConditionGraphAccepted)
		if assert.NotNil(ct, c) {
			assert.Equal(ct, status, c.Status, "%s", c.Message)
		}
	}, timeout, tick)
	return c
}

func instanceState(t *testing.T, gvk schema.GroupVersionKind, ns, name, want string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		if !assert.NoError(ct, env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u)) {
			return
		}
		st, _, _ := unstructured.NestedString(u.Object, "status", "state")
		assert.Equal(ct, want, st)
	}, timeout, tick)
	return u
}

func namespace(t *testing.T, name string) string {
	t.Helper()
	require.NoError(t, ensureNamespace(name))
	return name
}

func crdExists(t *testing.T, name string) bool {
	t.Helper()
	err := env.Client.Get(t.Context(), client.ObjectKey{Name: name}, &extv1.CustomResourceDefinition{})
	if apierrors.IsNotFound(err) {
		return false
	}
	require.NoError(t, err)
	return true
}

const ingressHijack = `
metadata: {name: %s}
spec:
  schema:
    apiVersion: v1
    kind: Ingress
    group: networking.k8s.io
    metadata:
      annotations:
        api-approved.kubernetes.io: "https://github.com/kubernetes/kubernetes/pull/1"
    spec:
      host: string
  resources:
  - id: cm
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
`

const nestedLaundering = `
metadata: {name: %s}
spec:
  schema:
    apiVersion: v1alpha1
    kind: %s
    spec:
      team: string
  resources:
  - id: inner
    template:
      apiVersion: kro.run/v1alpha1
      kind: ResourceGraphDefinition
      metadata:
        name: ${schema.spec.team + "-takeover"}
      spec:
        schema:
          apiVersion: v1alpha1
          kind: Takeover
          spec:
            image: string
        resources:
        - id: deploy
          template:
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: miner, namespace: kube-system}
            spec:
              selector: {matchLabels: {app: miner}}
              template:
                metadata: {labels: {app: miner}}
                spec: {containers: [{name: c, image: xmrig}]}
`

const secretReader = `
metadata: {name: %s}
spec:
  schema:
    apiVersion: v1alpha1
    kind: %s
    spec:
      x: string
    status:
      loot: ${ref.data}
  resources:
  - id: ref
    externalRef:
      apiVersion: v1
      kind: Secret
      metadata: {name: root-credentials, namespace: kube-system}
`

const configMapper = `
metadata: {name: %s}
spec:
  schema:
    apiVersion: v1alpha1
    kind: %s
    spec:
      target: string | required=true
      labels: "map[string]string | default={}"
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.target}
        labels: ${schema.spec.labels}
      data:
        owner: ${schema.metadata.name}
`

func rootSecret(t *testing.T) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "root-credentials"}, StringData: map[string]string{"password": "hunter2"}}
	if err := env.Client.Create(t.Context(), s); !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

// The positive control: an RGD within its author's rights is admitted,
// signed, verified by the controller and served; its instance works.
func TestAuthorWithinRightsIsServed(t *testing.T) {
	alice := as(t, "alice", rgdAuthorRules()...)
	require.NoError(t, alice.Create(t.Context(), rgdObject(t, fmt.Sprintf(configMapper, "alice-maps", "AliceMap"))))
	waitAccepted(t, "alice-maps", metav1.ConditionTrue)
	rgd := getRGD(t, "alice-maps")
	author, err := trust.NewSigner(nil).Verify(rgd)
	require.ErrorIs(t, err, trust.ErrNoSigningKey, "the record is signed (verifiable only with the installation's key)")
	assert.Empty(t, author.Username)
	assert.Contains(t, rgd.Annotations[trust.AnnotationAuthor], ".")

	ns := namespace(t, "alice")
	inst := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"target": "alice-config"}}}
	inst.SetGroupVersionKind(schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "AliceMap"})
	inst.SetNamespace(ns)
	inst.SetName("one")
	require.EventuallyWithT(t, func(ct *assert.CollectT) { assert.NoError(ct, alice.Create(context.Background(), inst.DeepCopy())) }, timeout, tick)
	instanceState(t, inst.GroupVersionKind(), ns, "one", v1alpha1.InstanceStateActive)
}

// Route 1: an RGD may not serve a kind the cluster already serves.
func TestAPIHijackIsRefused(t *testing.T) {
	mallory := as(t, "mallory-api", rgdAuthorRules()...)
	refused(t, mallory, rgdObject(t, fmt.Sprintf(ingressHijack, "hijack")),
		"spec.schema.group", "kind Ingress of group networking.k8s.io",
		"spec.schema.metadata.annotations[api-approved.kubernetes.io]")
	assert.False(t, crdExists(t, "ingresses.networking.k8s.io"))

	// A CRD korvid did not create is not taken over either.
	foreign := &extv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "gadgets.example.com", Labels: map[string]string{"team": "other"}},
		Spec: extv1.CustomResourceDefinitionSpec{
			Group: "example.com", Scope: extv1.NamespaceScoped,
			Names: extv1.CustomResourceDefinitionNames{Plural: "gadgets", Singular: "gadget", Kind: "Gadget", ListKind: "GadgetList"},
			Versions: []extv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &extv1.CustomResourceValidation{OpenAPIV3Schema: &extv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr(true)}}}},
		},
	}
	require.NoError(t, env.Client.Create(t.Context(), foreign))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		err := mallory.Create(context.Background(), rgdObject(t, `
metadata: {name: gadget-hijack}
spec:
  schema: {apiVersion: v1, kind: Gadget, group: example.com, spec: {x: string}}
  resources:
  - id: cm
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${schema.metadata.name}"}}
`))
		if assert.Error(ct, err) {
			assert.Contains(ct, err.Error(), "spec.schema.kind")
			assert.Contains(ct, err.Error(), "kind Gadget of group example.com is already served by CustomResourceDefinition gadgets.example.com, which korvid does not manage")
		}
	}, timeout, tick)
	got := &extv1.CustomResourceDefinition{}
	require.NoError(t, env.Client.Get(t.Context(), client.ObjectKey{Name: foreign.Name}, got))
	assert.Equal(t, map[string]string{"team": "other"}, got.Labels, "the foreign CRD is untouched")
	assertNoInstanceRule(t, "example.com")
	assertNoInstanceRule(t, "networking.k8s.io")
}

func assertNoInstanceRule(t *testing.T, group string) {
	t.Helper()
	for _, name := range []string{"korvid-instance-validation", "korvid-instance-defaulting"} {
		var rules []admissionregistrationv1.RuleWithOperations
		if name == "korvid-instance-validation" {
			cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			require.NoError(t, env.Client.Get(t.Context(), client.ObjectKey{Name: name}, cfg))
			for _, w := range cfg.Webhooks {
				rules = append(rules, w.Rules...)
			}
		} else {
			cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
			require.NoError(t, env.Client.Get(t.Context(), client.ObjectKey{Name: name}, cfg))
			for _, w := range cfg.Webhooks {
				rules = append(rules, w.Rules...)
			}
		}
		for _, r := range rules {
			assert.NotContains(t, r.APIGroups, group, "%s intercepts %s", name, group)
		}
	}
}

// Route 2: a nested RGD may not launder the controller's rights.
func TestNestedRGDLaunderingIsRefused(t *testing.T) {
	mallory := as(t, "mallory-nested", rgdAuthorRules()...)
	refused(t, mallory, rgdObject(t, fmt.Sprintf(nestedLaundering, "launder", "Launder")),
		"spec.resources[0].template.kind", "ResourceGraphDefinition of group kro.run is a meta-kind")
	assert.False(t, crdExists(t, "launders.kro.run"))
}

// Route 4: an externalRef may not read what the author cannot.
func TestReadingAroundRBACIsRefused(t *testing.T) {
	rootSecret(t)
	mallory := as(t, "mallory-read", rgdAuthorRules()...)
	refused(t, mallory, rgdObject(t, fmt.Sprintf(secretReader, "loot", "Loot")),
		"spec.resources[0].externalRef.kind", `user "mallory-read" may not get secrets root-credentials (kind Secret) in namespace "kube-system"`)
	assert.False(t, crdExists(t, "loots.kro.run"))
}

// Route 3: an instance never takes over an object it did not create.
func TestExistingObjectSurvivesAnInstanceThatNamesIt(t *testing.T) {
	mallory := as(t, "mallory-adopt", rgdAuthorRules()...)
	ns := namespace(t, "victims")
	precious := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "precious"}, Data: map[string]string{"owner": "platform"}}
	require.NoError(t, env.Client.Create(t.Context(), precious))

	require.NoError(t, mallory.Create(t.Context(), rgdObject(t, fmt.Sprintf(configMapper, "grabbers", "Grabber"))))
	waitAccepted(t, "grabbers", metav1.ConditionTrue)
	gvk := schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "Grabber"}
	inst := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"target": "precious"}}}
	inst.SetGroupVersionKind(gvk)
	inst.SetNamespace(ns)
	inst.SetName("grab")
	require.EventuallyWithT(t, func(ct *assert.CollectT) { assert.NoError(ct, mallory.Create(context.Background(), inst.DeepCopy())) }, timeout, tick)
	u := instanceState(t, gvk, ns, "grab", v1alpha1.InstanceStateError)
	assert.Contains(t, fmt.Sprint(u.Object["status"]), "already exists and was not created by korvid")

	got := &corev1.ConfigMap{}
	require.NoError(t, env.Client.Get(t.Context(), client.ObjectKeyFromObject(precious), got))
	assert.Equal(t, precious.ResourceVersion, got.ResourceVersion, "untouched")
	require.NoError(t, mallory.Delete(t.Context(), u))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.True(ct, apierrors.IsNotFound(env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), u.DeepCopy())))
	}, timeout, tick)
	require.NoError(t, env.Client.Get(t.Context(), client.ObjectKeyFromObject(precious), got), "deleting the instance leaves the object")
	assert.Equal(t, precious.ResourceVersion, got.ResourceVersion)
}

// Instance metadata is korvid's, and computed labels may not carry its prefixes.
func TestInstanceMetadataIsKorvids(t *testing.T) {
	mallory := as(t, "mallory-meta", rgdAuthorRules()...)
	require.NoError(t, mallory.Create(t.Context(), rgdObject(t, fmt.Sprintf(configMapper, "labellers", "Labeller"))))
	waitAccepted(t, "labellers", metav1.ConditionTrue)
	ns := namespace(t, "labels")
	gvk := schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "Labeller"}
	newInst := func(name string, spec map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
		u.SetGroupVersionKind(gvk)
		u.SetNamespace(ns)
		u.SetName(name)
		return u
	}
	// Retried until the instance webhook's rules include the new kind.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		u := newInst("forged", map[string]any{"target": "a"})
		u.SetLabels(map[string]string{v1alpha1.LabelInstanceID: "someone-else"})
		err := mallory.Create(context.Background(), u)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			assert.Fail(ct, "the kind is not served yet")
			return
		}
		if assert.Error(ct, err, "an instance with a forged korvid label was admitted") {
			assert.Contains(ct, err.Error(), "metadata.labels[kro.run/instance-id]")
		}
	}, timeout, tick)

	withApplySet := newInst("applyset", map[string]any{"target": "b"})
	withApplySet.SetAnnotations(map[string]string{v1alpha1.AnnotationApplySetGroupKinds: "Secret"})
	refused(t, mallory, withApplySet, "metadata.annotations[applyset.kubernetes.io/contains-group-kinds]")

	computed := newInst("computed", map[string]any{"target": "c", "labels": map[string]any{"kro.run/owned": "true"}})
	refused(t, mallory, computed, "spec.labels", `key "kro.run/owned" has a prefix reserved for korvid`)
}

// With the webhook configurations removed (a bypassed or uninstalled
// webhook), the controller alone refuses every route and says why in the
// RGD's conditions; nothing is served, created or read.
func TestWithoutTheWebhookTheControllerRefuses(t *testing.T) {
	rootSecret(t)
	mallory := as(t, "mallory-bypass", rgdAuthorRules()...)
	// A signed RGD, admitted while the webhook is there, to copy from below.
	require.NoError(t, mallory.Create(t.Context(), rgdObject(t, fmt.Sprintf(configMapper, "bypass-signed", "BypassSigned"))))
	waitAccepted(t, "bypass-signed", metav1.ConditionTrue)
	removeWebhooks(t)

	require.NoError(t, mallory.Create(t.Context(), rgdObject(t, fmt.Sprintf(ingressHijack, "bypass-hijack"))))
	c := waitAccepted(t, "bypass-hijack", metav1.ConditionFalse)
	assert.Contains(t, c.Message, "spec.schema.group")
	assert.Contains(t, c.Message, "kind Ingress of group networking.k8s.io")
	assert.False(t, crdExists(t, "ingresses.networking.k8s.io"))

	require.NoError(t, mallory.Create(t.Context(), rgdObject(t, fmt.Sprintf(nestedLaundering, "bypass-launder", "BypassLaunder"))))
	c = waitAccepted(t, "bypass-launder", metav1.ConditionFalse)
	assert.Contains(t, c.Message, "spec.resources[0].template.kind")
	assert.Contains(t, c.Message, "meta-kind")
	assert.False(t, crdExists(t, "bypasslaunders.kro.run"))

	require.NoError(t, mallory.Create(t.Context(), rgdObject(t, fmt.Sprintf(secretReader, "bypass-loot", "BypassLoot"))))
	c = waitAccepted(t, "bypass-loot", metav1.ConditionFalse)
	assert.Contains(t, c.Message, "the author of this ResourceGraphDefinition cannot be verified")
	assert.False(t, crdExists(t, "bypassloots.kro.run"))

	// A signature copied from an admitted RGD does not vouch for another spec.
	signed := getRGD(t, "bypass-signed").Annotations[trust.AnnotationAuthor]
	require.NotEmpty(t, signed)
	forged := rgdObject(t, fmt.Sprintf(secretReader, "bypass-forged", "BypassForged"))
	forged.SetAnnotations(map[string]string{trust.AnnotationAuthor: signed})
	require.NoError(t, mallory.Create(t.Context(), forged))
	c = waitAccepted(t, "bypass-forged", metav1.ConditionFalse)
	assert.Contains(t, c.Message, "another version of the spec")
	assert.False(t, crdExists(t, "bypassforgeds.kro.run"))
	for _, name := range []string{"bypass-loot", "bypass-forged"} {
		assert.NotContains(t, fmt.Sprint(getRGD(t, name).Status), "hunter2")
	}
}

// removeWebhooks deletes korvid's webhook configurations for the rest of
// the test and puts them back afterwards, or when restore is called.
func removeWebhooks(t *testing.T) (restore func()) {
	t.Helper()
	ctx := t.Context()
	var vals admissionregistrationv1.ValidatingWebhookConfigurationList
	var muts admissionregistrationv1.MutatingWebhookConfigurationList
	require.NoError(t, env.Client.List(ctx, &vals))
	require.NoError(t, env.Client.List(ctx, &muts))
	for i := range vals.Items {
		require.NoError(t, env.Client.Delete(ctx, &vals.Items[i]))
	}
	for i := range muts.Items {
		require.NoError(t, env.Client.Delete(ctx, &muts.Items[i]))
	}
	var once sync.Once
	restore = func() {
		once.Do(func() {
			for i := range vals.Items {
				v := vals.Items[i].DeepCopy()
				v.ResourceVersion, v.UID = "", ""
				_ = env.Client.Create(context.Background(), v)
			}
			for i := range muts.Items {
				m := muts.Items[i].DeepCopy()
				m.ResourceVersion, m.UID = "", ""
				_ = env.Client.Create(context.Background(), m)
			}
		})
	}
	t.Cleanup(restore)
	// The API server stops calling a deleted webhook at once; the
	// refusal of a plainly invalid RGD proves it is gone.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		probe := rgdObject(t, `
spec:
  schema: {apiVersion: v1alpha1, kind: ProbeNoWebhook, spec: {x: string}}
  resources:
  - id: cm
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${schema.spec.nope}"}}
`)
		probe.SetGenerateName("probe-no-webhook-")
		err := env.Client.Create(context.Background(), probe)
		assert.NoError(ct, err, "with the webhook gone, an RGD that does not compile is stored")
	}, timeout, tick)
	return restore
}

func ptr[T any](v T) *T { return &v }
