package admission

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/registry"
	"github.com/korvid/korvid/test/rgdtest"
)

func createRGD(t *testing.T, c client.Client, rgd *v1alpha1.ResourceGraphDefinition) error {
	t.Helper()
	rgd.UID, rgd.ResourceVersion, rgd.Generation = "", "", 0
	err := c.Create(ctx(t), rgd)
	if err == nil {
		t.Cleanup(func() {
			cur := &v1alpha1.ResourceGraphDefinition{}
			if env.Client.Get(ctx(t), client.ObjectKeyFromObject(rgd), cur) == nil {
				cur.Annotations = map[string]string{v1alpha1.AnnotationAllowDeleteWithInstances: "true"}
				_ = env.Client.Update(ctx(t), cur)
				_ = env.Client.Delete(ctx(t), cur)
			}
		})
	}
	return err
}

func TestCorpusAtCreate(t *testing.T) {
	webhookServer(t)
	t.Run("valid", func(t *testing.T) {
		for _, f := range corpus(t, "valid") {
			t.Run(filepath.Base(f), func(t *testing.T) {
				require.NoError(t, createRGD(t, env.Client, loadRGD(t, f)))
			})
		}
	})
	t.Run("invalid", func(t *testing.T) {
		for _, f := range corpus(t, "invalid") {
			t.Run(filepath.Base(f), func(t *testing.T) {
				err := createRGD(t, env.Client, loadRGD(t, f))
				require.Error(t, err, "the API server must refuse it")
				require.True(t, apierrors.IsInvalid(err), "want 422 Invalid, got %v", err)
				c := causes(t, err)
				// The API server checks the RGD CRD's own schema before it
				// calls validating webhooks; when that check refuses the
				// object, its message differs but the path is the same (or
				// the list entry that holds it).
				byWebhook := strings.Contains(err.Error(), `admission webhook "vresourcegraphdefinition.kro.run"`)
				for _, want := range readExpectations(t, f) {
					if byWebhook {
						assert.True(t, hasCause(c, want.path, want.message), "want a cause at %s containing %q, got %v", want.path, want.message, c)
						continue
					}
					found := false
					for field := range c {
						found = found || field == want.path || strings.HasPrefix(want.path, field+".")
					}
					assert.True(t, found, "want a cause at %s (or the list entry holding it), got %v", want.path, c)
				}
			})
		}
	})
}

func TestDefaultsAreApplied(t *testing.T) {
	webhookServer(t)
	rgd := parseRGD(t, []byte(`
metadata: {name: defaults}
spec:
  schema: {apiVersion: v1alpha1, kind: Defaulted}
  resources:
  - id: cm
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${schema.metadata.name}"}}
`))
	require.NoError(t, createRGD(t, env.Client, rgd))
	assert.Equal(t, "kro.run", rgd.Spec.Schema.Group)
	assert.Equal(t, v1alpha1.ResourceScopeNamespaced, rgd.Spec.Schema.Scope)
}

// simpleRGD is the suite's usual RGD: a name and a defaulted size rendered
// into one ConfigMap.
func simpleRGD(name, kind string) *v1alpha1.ResourceGraphDefinition {
	return rgdtest.New(name, kind).
		Spec("name", "string | required=true").Spec("size", "integer | default=1").
		ConfigMap("cm", "${schema.spec.name}", map[string]any{"size": "${string(schema.spec.size)}"}).
		Build()
}

func TestKindAlreadyServed(t *testing.T) {
	webhookServer(t)
	require.NoError(t, createRGD(t, env.Client, simpleRGD("dup-first", "Dup")))

	err := createRGD(t, env.Client, simpleRGD("dup-second", "Dup"))
	require.Error(t, err)
	assert.True(t, hasCause(causes(t, err), "spec.schema.kind", `already served by ResourceGraphDefinition "dup-first"`), "got %v", err)

	// A CRD korvid did not create is never taken over.
	foreign := simpleRGD("foreign", "Database")
	foreign.Spec.Schema.Group, foreign.Spec.Schema.APIVersion = "example.com", "v1"
	err = createRGD(t, env.Client, foreign)
	require.Error(t, err)
	assert.True(t, hasCause(causes(t, err), "spec.schema.kind", "CustomResourceDefinition databases.example.com, which korvid does not manage"), "got %v", err)
}

func TestBreakingUpdateOverTheAPI(t *testing.T) {
	webhookServer(t)
	c, warns := warningClient(t, env.Config)
	rgd := simpleRGD("breaking", "Breaking")
	require.NoError(t, createRGD(t, c, rgd))

	rgd.Spec.Schema.Spec.Raw = []byte(`{"name":"string | required=true","size":"integer | default=1 maximum=10"}`)
	err := c.Update(ctx(t), rgd)
	require.Error(t, err)
	assert.True(t, hasCause(causes(t, err), "spec.schema.spec.size", "maximum"), "got %v", err)

	warns.take()
	rgd.Annotations = map[string]string{v1alpha1.AnnotationAllowBreakingChanges: "true"}
	require.NoError(t, c.Update(ctx(t), rgd))
	assert.True(t, containsFragment(warns.take(), "spec.schema.spec.size"), "the allowed breaking change is reported as a warning")
}

func TestRiskyRGDGetsWarnings(t *testing.T) {
	webhookServer(t)
	c, warns := warningClient(t, env.Config)
	require.NoError(t, createRGD(t, c, parseRGD(t, []byte(`
metadata: {name: risky}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Risky
    spec: {name: string, regions: "[]string"}
  resources:
  - id: app
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: "${schema.spec.name}"}
      spec:
        selector: {matchLabels: {app: x}}
        template:
          metadata: {labels: {app: x}}
          spec: {containers: [{name: c, image: nginx}]}
  - id: cms
    forEach: [{region: "${schema.spec.regions}"}]
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${schema.spec.name + '-' + region}"}}
`))))
	w := warns.take()
	assert.True(t, containsFragment(w, `Deployment "app" has no readyWhen`), "got %v", w)
	assert.True(t, containsFragment(w, "spec.regions, which has no maxItems"), "got %v", w)
}

func TestPolicyFileForbidsKinds(t *testing.T) {
	webhookServer(t)
	err := createRGD(t, env.Client, parseRGD(t, []byte(`
metadata: {name: priorities}
spec:
  schema: {apiVersion: v1alpha1, kind: Priority, spec: {value: integer}}
  resources:
  - id: cm
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${schema.metadata.name}"}}
  - id: priority
    template:
      apiVersion: scheduling.k8s.io/v1
      kind: PriorityClass
      metadata: {name: "${schema.metadata.name}"}
      value: ${schema.spec.value}
`)))
	require.Error(t, err)
	assert.True(t, hasCause(causes(t, err), "spec.resources[1].template.kind", `forbidden by policy "suite-policy": priorities are owned by the platform team`), "got %v", err)
}

// TestNoPrivilegeEscalation: a user allowed to manage RGDs and ConfigMaps,
// but not ClusterRoleBindings, cannot make korvid create ClusterRoleBindings
// on their behalf.
func TestNoPrivilegeEscalation(t *testing.T) {
	webhookServer(t)
	c := ctx(t)
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "rgd-author"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"kro.run"}, Resources: []string{"resourcegraphdefinitions"}, Verbs: []string{"*"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "create", "update", "patch", "delete"}},
	}}
	require.NoError(t, env.Client.Create(c, role))
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "rgd-author"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "rgd-author"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "alice"}}}
	require.NoError(t, env.Client.Create(c, binding))
	t.Cleanup(func() { _ = env.Client.Delete(c, binding); _ = env.Client.Delete(c, role) })

	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "alice", Groups: []string{"system:authenticated"}}
	alice, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	require.NoError(t, err)

	crb := parseRGD(t, []byte(`
metadata: {name: escalate}
spec:
  schema: {apiVersion: v1alpha1, kind: Escalate, spec: {user: string}}
  resources:
  - id: binding
    template:
      apiVersion: rbac.authorization.k8s.io/v1
      kind: ClusterRoleBinding
      metadata: {name: "${schema.spec.user}-admin"}
      roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
      subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: "${schema.spec.user}"}]
`))
	aliceRGD := simpleRGD("alice-configmaps", "AliceConfig")
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		// RBAC caches need a moment to see the new binding.
		err := createRGD(t, alice, aliceRGD.DeepCopy())
		assert.NoError(collect, err)
	}, 10*time.Second, 100*time.Millisecond, "alice may template ConfigMaps")

	err = createRGD(t, alice, crb)
	require.Error(t, err)
	assert.True(t, hasCause(causes(t, err), "spec.resources[0].template.kind",
		`user "alice" may not get, create, update, patch, delete clusterrolebindings.rbac.authorization.k8s.io (kind ClusterRoleBinding) cluster-wide`), "got %v", err)

	// The same RGD from an administrator passes.
	require.NoError(t, createRGD(t, env.Client, crb))
}

const instanceRGD = `
metadata: {name: shops}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Shop
    spec:
      name: string | required=true
      regions: "[]string"
      divisor: integer | default=1
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.spec.name}"}
      data: {ratio: "${string(100 / schema.spec.divisor)}"}
  - id: perRegion
    forEach: [{region: "${schema.spec.regions}"}]
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.spec.name + '-' + region}"}
`

// activeKind creates an RGD, waits until the instance webhooks match its
// kind and creates the generated CRD (no controller runs in this suite).
func activeKind(t *testing.T, rgd *v1alpha1.ResourceGraphDefinition) *registry.Compiled {
	t.Helper()
	s := webhookServer(t)
	require.NoError(t, createRGD(t, env.Client, rgd))
	c, errs := s.server.Registry.Get(rgd)
	require.Empty(t, errs)
	establish(t, c.Graph.CRD)
	t.Cleanup(func() { _ = env.Client.Delete(ctx(t), c.Graph.CRD) })
	gvr := c.Graph.Instance.GVR()
	require.Eventually(t, func() bool {
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		mcfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
		return env.Client.Get(ctx(t), client.ObjectKey{Name: "korvid-instance-validation"}, cfg) == nil &&
			env.Client.Get(ctx(t), client.ObjectKey{Name: "korvid-instance-defaulting"}, mcfg) == nil &&
			rulesMatch(cfg.Webhooks[0].Rules, gvr.Group, gvr.Version, gvr.Resource) &&
			rulesMatch(mcfg.Webhooks[0].Rules, gvr.Group, gvr.Version, gvr.Resource)
	}, 20*time.Second, 50*time.Millisecond, "the instance webhooks match %s", gvr)
	return c
}

func rulesMatch(rules []admissionregistrationv1.RuleWithOperations, group, version, resource string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.APIVersions, version) && slices.Contains(r.Resources, resource) {
			return true
		}
	}
	return false
}

func newInstance(c *registry.Compiled, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(c.Graph.Instance.GVK)
	u.SetName(name)
	u.SetNamespace("default")
	return u
}

func TestInstanceAdmission(t *testing.T) {
	c := activeKind(t, parseRGD(t, []byte(instanceRGD)))
	many := make([]any, 1001)
	for i := range many {
		many[i] = fmt.Sprintf("r%d", i)
	}
	tests := []struct {
		name      string
		spec      map[string]any
		path      string
		fragments []string
	}{
		{name: "valid", spec: map[string]any{"name": "shop", "regions": []any{"eu", "us"}}},
		{name: "invalid rendered name", spec: map[string]any{"name": "Shop_1"},
			path: "spec.name", fragments: []string{`resource "config" (ConfigMap)`, "metadata.name"}},
		{name: "failing expression", spec: map[string]any{"name": "zero", "divisor": 0},
			path: "spec.divisor", fragments: []string{`resource "config"`, "division by zero"}},
		{name: "collection over the limit", spec: map[string]any{"name": "big", "regions": many},
			path: "spec.regions", fragments: []string{`resource "perRegion"`, "more than 1000 objects"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst := newInstance(c, strings.ToLower(strings.ReplaceAll(tt.name, " ", "-")), tt.spec)
			err := env.Client.Create(ctx(t), inst)
			if tt.path == "" {
				require.NoError(t, err)
				t.Cleanup(func() { _ = env.Client.Delete(ctx(t), inst) })
				assert.Empty(t, inst.GetLabels(), "an instance without korvid labels is not sent to the defaulting webhook: the controller labels it")
				assert.Empty(t, inst.GetFinalizers(), "the controller, not admission, adds the finalizer")
				return
			}
			require.Error(t, err)
			cs := causes(t, err)
			found := false
			for _, m := range cs[tt.path] {
				ok := true
				for _, f := range tt.fragments {
					ok = ok && strings.Contains(m, f)
				}
				found = found || ok
			}
			assert.True(t, found, "want a cause at %s containing %q, got %v", tt.path, tt.fragments, cs)
		})
	}

	t.Run("korvid labels an instance carries are corrected at admission", func(t *testing.T) {
		inst := newInstance(c, "relabelled", map[string]any{"name": "relabelled"})
		inst.SetLabels(map[string]string{v1alpha1.LabelOwned: "false", v1alpha1.LabelRGDName: "someone-elses", "team": "a"})
		require.NoError(t, env.Client.Create(ctx(t), inst))
		t.Cleanup(func() { _ = env.Client.Delete(ctx(t), inst) })
		labels := inst.GetLabels()
		assert.Equal(t, "true", labels[v1alpha1.LabelOwned])
		assert.Equal(t, "shops", labels[v1alpha1.LabelRGDName])
		assert.Equal(t, string(c.RGD.UID), labels[v1alpha1.LabelRGDID])
		assert.NotEmpty(t, labels[v1alpha1.LabelApplySetID])
		assert.Equal(t, "a", labels["team"], "labels of the user's own are kept")
	})

	t.Run("metadata updates of an instance pass", func(t *testing.T) {
		inst := newInstance(c, "meta", map[string]any{"name": "meta"})
		require.NoError(t, env.Client.Create(ctx(t), inst))
		t.Cleanup(func() { _ = env.Client.Delete(ctx(t), inst) })
		inst.SetAnnotations(map[string]string{"note": "x"})
		require.NoError(t, env.Client.Update(ctx(t), inst))
		require.NoError(t, unstructured.SetNestedField(inst.Object, "Bad_Name", "spec", "name"))
		require.Error(t, env.Client.Update(ctx(t), inst), "a spec update is checked like a create")
	})
}

func TestDeleteWithInstances(t *testing.T) {
	c := activeKind(t, simpleRGD("guarded", "Guarded"))
	inst := newInstance(c, "one", map[string]any{"name": "one"})
	require.NoError(t, env.Client.Create(ctx(t), inst))

	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, env.Client.Get(ctx(t), client.ObjectKey{Name: "guarded"}, rgd))
	err := env.Client.Delete(ctx(t), rgd)
	require.Error(t, err)
	require.True(t, apierrors.IsForbidden(err), "got %v", err)
	assert.Contains(t, err.Error(), "1 instance(s) of Guarded")
	assert.Contains(t, err.Error(), "default/one")
	assert.Contains(t, err.Error(), v1alpha1.AnnotationAllowDeleteWithInstances)

	rgd.Annotations = map[string]string{v1alpha1.AnnotationAllowDeleteWithInstances: "true"}
	require.NoError(t, env.Client.Update(ctx(t), rgd))
	wc, warns := warningClient(t, env.Config)
	require.NoError(t, wc.Delete(ctx(t), rgd))
	assert.True(t, containsFragment(warns.take(), "removes its finalizer from them; their resources are left in place"),
		"the warning says what happens to the instances left behind")
}

func TestDeleteWithTerminatingInstances(t *testing.T) {
	c := activeKind(t, simpleRGD("pruned", "Pruned"))
	inst := newInstance(c, "going", map[string]any{"name": "going"})
	inst.SetFinalizers([]string{"example.com/hold"})
	require.NoError(t, env.Client.Create(ctx(t), inst))
	release := func() {
		cur := inst.DeepCopy()
		if err := env.Client.Get(ctx(t), client.ObjectKeyFromObject(inst), cur); err == nil {
			cur.SetFinalizers(nil)
			_ = env.Client.Update(ctx(t), cur)
		}
	}
	t.Cleanup(release)

	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, env.Client.Get(ctx(t), client.ObjectKey{Name: "pruned"}, rgd))
	require.Error(t, env.Client.Delete(ctx(t), rgd), "a live instance holds the RGD back")

	// `kubectl delete -f dir/` deletes the instance, then the RGD: the
	// instance is terminating (its finalizer holds it) and no longer counts.
	require.NoError(t, env.Client.Delete(ctx(t), inst))
	require.NoError(t, env.Client.Delete(ctx(t), rgd))
}

func TestInstanceRulesFollowRGDs(t *testing.T) {
	s := webhookServer(t)
	before := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	require.NoError(t, env.Client.Get(ctx(t), client.ObjectKey{Name: "korvid-instance-validation"}, before))

	rgd := simpleRGD("ruled", "Ruled")
	require.NoError(t, createRGD(t, env.Client, rgd))
	// The controller serves the kind with the RGD's own CRD; only then is it
	// an instance kind.
	c, errs := s.server.Registry.Compile(rgd)
	require.Empty(t, errs)
	establish(t, c.Graph.CRD)
	get := func() *admissionregistrationv1.ValidatingWebhookConfiguration {
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		require.NoError(t, env.Client.Get(ctx(t), client.ObjectKey{Name: "korvid-instance-validation"}, cfg))
		return cfg
	}
	require.Eventually(t, func() bool { return rulesMatch(get().Webhooks[0].Rules, "kro.run", "v1alpha1", "ruleds") }, 20*time.Second, 50*time.Millisecond)
	after := get()
	assert.Equal(t, before.Webhooks[0].ClientConfig, after.Webhooks[0].ClientConfig, "clientConfig and caBundle are kept")
	assert.Equal(t, before.Webhooks[0].NamespaceSelector, after.Webhooks[0].NamespaceSelector)
	assert.Equal(t, before.Webhooks[0].FailurePolicy, after.Webhooks[0].FailurePolicy)

	// A pass with nothing to change does not write.
	rv := after.ResourceVersion
	require.NoError(t, s.server.Rules.Sync(ctx(t)))
	assert.Equal(t, rv, get().ResourceVersion, "an idempotent pass leaves the configuration alone")

	// Rules reset by a re-applied installation are repaired.
	after.Webhooks[0].Rules = nil
	require.NoError(t, env.Client.Update(ctx(t), after))
	require.NoError(t, s.server.Rules.Sync(ctx(t)))
	assert.True(t, rulesMatch(get().Webhooks[0].Rules, "kro.run", "v1alpha1", "ruleds"))

	require.NoError(t, env.Client.Delete(ctx(t), rgd))
	require.Eventually(t, func() bool { return !rulesMatch(get().Webhooks[0].Rules, "kro.run", "v1alpha1", "ruleds") }, 20*time.Second, 50*time.Millisecond,
		"a deleted RGD's kind leaves the rules")
}

func TestReadiness(t *testing.T) {
	s := webhookServer(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + s.probeAddr + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	require.NoError(t, createRGD(t, env.Client, simpleRGD("measured", "Measured")))
	families, err := crmetrics.Registry.Gather()
	require.NoError(t, err)
	var samples uint64
	for _, f := range families {
		if f.GetName() != "korvid_admission_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["kind"] == "ResourceGraphDefinition" && l["operation"] == "CREATE" && l["outcome"] == "allowed" {
				samples += m.GetHistogram().GetSampleCount()
			}
		}
	}
	assert.Positive(t, samples, "the latency of allowed RGD creations is served on the metrics endpoint's registry")
}

// TestCertificateRotation replaces the serving certificate files: new TLS
// handshakes present the new certificate without a restart, and the API
// server (trusting the new CA) keeps calling the webhook.
func TestCertificateRotation(t *testing.T) {
	s := webhookServer(t)
	old := servingCert(t, s.hostPort)

	caPEM, certPEM, keyPEM := newServingCert(t)
	writeAtomically(t, filepath.Join(s.certDir, "tls.key"), keyPEM)
	writeAtomically(t, filepath.Join(s.certDir, "tls.crt"), certPEM)
	require.Eventually(t, func() bool {
		return !servingCert(t, s.hostPort).Equal(old)
	}, 20*time.Second, 100*time.Millisecond, "the new certificate is served without a restart")
	assert.Equal(t, "korvid-rotated", servingCert(t, s.hostPort).Subject.CommonName)

	bundle := append(append([]byte{}, s.caData...), caPEM...)
	for _, name := range []string{"validating-webhook-configuration", "korvid-instance-validation"} {
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		require.NoError(t, env.Client.Get(ctx(t), client.ObjectKey{Name: name}, cfg))
		for i := range cfg.Webhooks {
			cfg.Webhooks[i].ClientConfig.CABundle = bundle
		}
		require.NoError(t, env.Client.Update(ctx(t), cfg))
	}
	for _, name := range []string{"mutating-webhook-configuration", "korvid-instance-defaulting"} {
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
		require.NoError(t, env.Client.Get(ctx(t), client.ObjectKey{Name: name}, cfg))
		for i := range cfg.Webhooks {
			cfg.Webhooks[i].ClientConfig.CABundle = bundle
		}
		require.NoError(t, env.Client.Update(ctx(t), cfg))
	}
	rotated := simpleRGD("after-rotation", "AfterRotation")
	require.EventuallyWithT(t, func(collect *assert.CollectT) {
		err := createRGD(t, env.Client, rotated.DeepCopy())
		assert.NoError(collect, err)
	}, 20*time.Second, 200*time.Millisecond, "the API server reaches the webhook with the new certificate")
	err := createRGD(t, env.Client, loadRGD(t, filepath.Join(testdata, "rgd", "invalid", "duplicate-id.yaml")))
	require.Error(t, err, "and the webhook still denies")
}

func writeAtomically(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	require.NoError(t, os.WriteFile(tmp, data, 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// newServingCert returns a new CA and a serving certificate for localhost
// and 127.0.0.1 signed by it, PEM-encoded.
func newServingCert(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "korvid-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "korvid-rotated"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
