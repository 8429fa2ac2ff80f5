package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/korvid/korvid/internal/localcluster"
	"github.com/korvid/korvid/test/envtest"
)

const (
	controllerAggregationLabel    = "rbac.korvid.dev/aggregate-to-controller"
	kroControllerAggregationLabel = "rbac.kro.run/aggregate-to-controller"
	namespace                     = "korvid-system"
	webhookService                = "korvid-webhook"
	servingCert                   = "korvid-webhook-cert"
)

// defaultDir is the kustomization under test: deploy/kustomize/default, or
// KORVID_KUSTOMIZE_DIR to check an overlay.
func defaultDir() string {
	if d := os.Getenv("KORVID_KUSTOMIZE_DIR"); d != "" {
		return d
	}
	return filepath.Join(envtest.RepoRoot(), "deploy", "kustomize", "default")
}

func render(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	objs, err := localcluster.Render(defaultDir())
	require.NoError(t, err)
	return objs
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func convert[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out), "%s %s", o.GetKind(), o.GetName())
	return out
}

// webhookSettings is what every webhook of the install must have.
type webhookSettings struct {
	config, name      string
	service           *admissionregistrationv1.ServiceReference
	failurePolicy     *admissionregistrationv1.FailurePolicyType
	sideEffects       *admissionregistrationv1.SideEffectClass
	timeout           *int32
	namespaceSelector []string
}

func webhooksOf(t *testing.T, objs []*unstructured.Unstructured) []webhookSettings {
	t.Helper()
	var out []webhookSettings
	for _, o := range objs {
		switch o.GetKind() {
		case "ValidatingWebhookConfiguration":
			for _, w := range convert[admissionregistrationv1.ValidatingWebhookConfiguration](t, o).Webhooks {
				out = append(out, webhookSettings{o.GetName(), w.Name, w.ClientConfig.Service, w.FailurePolicy, w.SideEffects, w.TimeoutSeconds, excluded(w.NamespaceSelector)})
			}
		case "MutatingWebhookConfiguration":
			for _, w := range convert[admissionregistrationv1.MutatingWebhookConfiguration](t, o).Webhooks {
				out = append(out, webhookSettings{o.GetName(), w.Name, w.ClientConfig.Service, w.FailurePolicy, w.SideEffects, w.TimeoutSeconds, excluded(w.NamespaceSelector)})
			}
		}
	}
	return out
}

// excluded lists the namespaces a namespaceSelector excludes by name.
func excluded(sel *metav1.LabelSelector) []string {
	if sel == nil {
		return nil
	}
	var out []string
	for _, e := range sel.MatchExpressions {
		if e.Key == corev1.LabelMetadataName && e.Operator == metav1.LabelSelectorOpNotIn {
			out = append(out, e.Values...)
		}
	}
	return out
}

func TestRenderedWebhookConfigurations(t *testing.T) {
	objs := render(t)
	configs := map[string]string{
		"korvid-rgd-validation":      "ValidatingWebhookConfiguration",
		"korvid-rgd-defaulting":      "MutatingWebhookConfiguration",
		"korvid-instance-validation": "ValidatingWebhookConfiguration",
		"korvid-instance-defaulting": "MutatingWebhookConfiguration",
	}
	for name, kind := range configs {
		o := find(objs, kind, name)
		require.NotNil(t, o, "%s %s missing from the install", kind, name)
		assert.Equal(t, namespace+"/"+servingCert, o.GetAnnotations()["cert-manager.io/inject-ca-from"], "%s: CA injection annotation", name)
	}
	hooks := webhooksOf(t, objs)
	require.Len(t, hooks, len(configs), "one webhook per configuration")
	for _, w := range hooks {
		t.Run(w.config, func(t *testing.T) {
			require.NotNil(t, w.service, "calls a Service")
			assert.Equal(t, webhookService, w.service.Name)
			assert.Equal(t, namespace, w.service.Namespace)
			require.NotNil(t, w.failurePolicy)
			assert.Equal(t, admissionregistrationv1.Fail, *w.failurePolicy)
			require.NotNil(t, w.sideEffects)
			assert.Equal(t, admissionregistrationv1.SideEffectClassNone, *w.sideEffects)
			require.NotNil(t, w.timeout)
			assert.LessOrEqual(t, *w.timeout, int32(10))
			if strings.HasPrefix(w.config, "korvid-instance-") {
				assert.Subset(t, w.namespaceSelector, []string{"kube-system", namespace}, "instance webhooks skip the system namespaces")
			}
		})
	}
}

func TestRenderedWorkloads(t *testing.T) {
	objs := render(t)
	for _, tc := range []struct {
		name     string
		replicas int32
	}{
		{name: "korvid-controller", replicas: 1},
		{name: "korvid-webhook", replicas: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := find(objs, "Deployment", tc.name)
			require.NotNil(t, o)
			d := convert[appsv1.Deployment](t, o)
			assert.Equal(t, namespace, d.Namespace)
			require.NotNil(t, d.Spec.Replicas)
			assert.Equal(t, tc.replicas, *d.Spec.Replicas)
			pod := d.Spec.Template.Spec
			assert.Equal(t, tc.name, pod.ServiceAccountName)
			require.NotNil(t, pod.SecurityContext)
			require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
			assert.True(t, *pod.SecurityContext.RunAsNonRoot)
			require.Len(t, pod.Containers, 1)
			c := pod.Containers[0]
			assert.True(t, strings.HasPrefix(c.Image, "korvid/"), "image %s", c.Image)
			require.NotNil(t, c.SecurityContext)
			require.NotNil(t, c.SecurityContext.ReadOnlyRootFilesystem)
			assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
			require.NotNil(t, c.SecurityContext.AllowPrivilegeEscalation)
			assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
			require.NotNil(t, c.ReadinessProbe)
			require.NotNil(t, c.LivenessProbe)
			assert.NotNil(t, c.Resources.Requests.Cpu())
		})
	}
	pdb := find(objs, "PodDisruptionBudget", "korvid-webhook")
	require.NotNil(t, pdb, "the webhook has a PodDisruptionBudget")
	cert := find(objs, "Certificate", servingCert)
	require.NotNil(t, cert)
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	assert.Contains(t, dnsNames, webhookService+"."+namespace+".svc", "the serving certificate names the webhook Service")
}

// TestRenderedRBACIsNarrow checks that neither binary gets wildcard verbs,
// that the controller's role is aggregated, and that the webhook may change
// only its own two webhook configurations.
func TestRenderedRBACIsNarrow(t *testing.T) {
	objs := render(t)
	agg := find(objs, "ClusterRole", "korvid-controller")
	require.NotNil(t, agg)
	role := convert[rbacv1.ClusterRole](t, agg)
	require.NotNil(t, role.AggregationRule, "the controller's ClusterRole is aggregated")
	var labels []string
	for _, sel := range role.AggregationRule.ClusterRoleSelectors {
		for k, v := range sel.MatchLabels {
			assert.Equal(t, "true", v, "selector %s", k)
			labels = append(labels, k)
		}
		assert.Empty(t, sel.MatchExpressions)
	}
	// korvid's own label and kro's, so ClusterRoles written for kro keep
	// granting the controller what they grant kro's.
	assert.ElementsMatch(t, []string{controllerAggregationLabel, kroControllerAggregationLabel}, labels)
	for _, o := range objs {
		if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
			continue
		}
		r := convert[rbacv1.ClusterRole](t, o)
		for _, rule := range r.Rules {
			assert.NotContains(t, rule.Verbs, "*", "%s %s", o.GetKind(), o.GetName())
			assert.NotContains(t, rule.APIGroups, "*", "%s %s", o.GetKind(), o.GetName())
			if strings.HasPrefix(o.GetName(), "korvid-webhook") && containsAny(rule.Verbs, "update", "patch", "create", "delete") {
				if containsAny(rule.Resources, "validatingwebhookconfigurations", "mutatingwebhookconfigurations") {
					assert.NotEmpty(t, rule.ResourceNames, "the webhook may update only its own configurations")
				} else {
					assert.Equal(t, []string{"subjectaccessreviews"}, rule.Resources, "the webhook writes nothing else")
				}
			}
		}
	}
}

func containsAny(list []string, values ...string) bool {
	for _, v := range values {
		for _, l := range list {
			if l == v {
				return true
			}
		}
	}
	return false
}

// The instance webhooks never see the controller's own requests: their
// matchConditions exempt exactly the controller's ServiceAccount of the
// install, so a webhook outage cannot stop reconciliation or deletion.
func TestInstanceWebhooksExemptTheController(t *testing.T) {
	objs := render(t)
	var sa *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "ServiceAccount" && o.GetName() == "korvid-controller" {
			sa = o
		}
	}
	require.NotNil(t, sa, "the install has the controller's ServiceAccount")
	want := fmt.Sprintf("request.userInfo.username != 'system:serviceaccount:%s:%s'", sa.GetNamespace(), sa.GetName())
	for name, kind := range map[string]string{
		"korvid-instance-validation": "ValidatingWebhookConfiguration",
		"korvid-instance-defaulting": "MutatingWebhookConfiguration",
	} {
		o := find(objs, kind, name)
		require.NotNil(t, o, "%s %s", kind, name)
		hooks, _, err := unstructured.NestedSlice(o.Object, "webhooks")
		require.NoError(t, err)
		require.NotEmpty(t, hooks)
		for _, h := range hooks {
			conds, _, err := unstructured.NestedSlice(h.(map[string]any), "matchConditions")
			require.NoError(t, err)
			var exprs []string
			for _, c := range conds {
				exprs = append(exprs, fmt.Sprint(c.(map[string]any)["expression"]))
			}
			assert.Contains(t, exprs, want, "%s exempts the controller", name)
		}
	}
}
