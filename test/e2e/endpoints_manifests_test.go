package e2e

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/korvid/korvid/test/envtest"
)

// flagPort returns the port of a --name=host:port (or --name=port) container
// argument.
func flagPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, a := range c.Args {
		v, ok := strings.CutPrefix(a, "--"+name+"=")
		if !ok {
			continue
		}
		if i := strings.LastIndex(v, ":"); i >= 0 {
			v = v[i+1:]
		}
		p, err := strconv.Atoi(v)
		require.NoError(t, err, "--%s=%s", name, v)
		return int32(p)
	}
	t.Fatalf("container %s has no --%s", c.Name, name)
	return 0
}

func containerPort(c corev1.Container, name string) (int32, bool) {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// TestRenderedNetworkPolicy checks that korvid's pods are isolated and admit
// exactly the ports their binaries serve the webhook and metrics on: not the
// health port, nothing else.
func TestRenderedNetworkPolicy(t *testing.T) {
	objs := render(t)
	var policies []*networkingv1.NetworkPolicy
	for _, o := range objs {
		if o.GetKind() == "NetworkPolicy" {
			policies = append(policies, convert[networkingv1.NetworkPolicy](t, o))
		}
	}
	require.Len(t, policies, 1, "one NetworkPolicy for korvid's pods")
	np := policies[0]
	assert.Equal(t, namespace, np.Namespace)
	assert.Contains(t, np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress, "the pods are isolated for ingress")
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	require.NoError(t, err)

	for _, tc := range []struct {
		deployment string
		want       map[string]string // container port name -> flag serving it
	}{
		{deployment: "korvid-webhook", want: map[string]string{"webhook": "port", "metrics": "metrics-bind-address"}},
		{deployment: "korvid-controller", want: map[string]string{"metrics": "metrics-bind-address"}},
	} {
		t.Run(tc.deployment, func(t *testing.T) {
			o := find(objs, "Deployment", tc.deployment)
			require.NotNil(t, o)
			d := convert[appsv1.Deployment](t, o)
			require.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "the NetworkPolicy selects the %s pods", tc.deployment)
			c := d.Spec.Template.Spec.Containers[0]

			var admitted []int32
			for _, rule := range np.Spec.Ingress {
				assert.Empty(t, rule.From, "callers are authenticated, not filtered by address")
				require.NotEmpty(t, rule.Ports, "a rule without ports would admit every port")
				for _, p := range rule.Ports {
					require.NotNil(t, p.Port)
					if p.Protocol != nil {
						assert.Equal(t, corev1.ProtocolTCP, *p.Protocol)
					}
					if p.Port.StrVal != "" {
						if n, ok := containerPort(c, p.Port.StrVal); ok {
							admitted = append(admitted, n)
						}
						continue
					}
					admitted = append(admitted, p.Port.IntVal)
				}
			}
			var want []int32
			for name, flag := range tc.want {
				n, ok := containerPort(c, name)
				require.True(t, ok, "container port %q", name)
				assert.Equal(t, flagPort(t, c, flag), n, "container port %q is the port --%s serves", name, flag)
				want = append(want, n)
			}
			assert.ElementsMatch(t, want, admitted, "admitted ports")
			health, ok := containerPort(c, "health")
			require.True(t, ok)
			assert.NotContains(t, admitted, health, "probes come from the node, which is always admitted")
		})
	}
}

// allows reports whether rules grant verb on group/resource (RBAC's matching:
// "*" matches every group, resource or verb).
func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if (slices.Contains(r.APIGroups, group) || slices.Contains(r.APIGroups, "*")) &&
			(slices.Contains(r.Resources, resource) || slices.Contains(r.Resources, "*")) &&
			(slices.Contains(r.Verbs, verb) || slices.Contains(r.Verbs, "*")) && len(r.ResourceNames) == 0 {
			return true
		}
	}
	return false
}

// controllerRules returns the rules aggregated into the controller's
// ClusterRole, as kube-controller-manager would, and the rules of the Roles
// bound to it.
func controllerRules(t *testing.T, objs []*unstructured.Unstructured) (cluster []rbacv1.PolicyRule, namespaced map[string][]rbacv1.PolicyRule) {
	t.Helper()
	namespaced = map[string][]rbacv1.PolicyRule{}
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole":
			l := o.GetLabels()
			if l[controllerAggregationLabel] == "true" || l[kroControllerAggregationLabel] == "true" {
				cluster = append(cluster, convert[rbacv1.ClusterRole](t, o).Rules...)
			}
		case "RoleBinding":
			b := convert[rbacv1.RoleBinding](t, o)
			if !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool { return s.Kind == "ServiceAccount" && s.Name == "korvid-controller" }) {
				continue
			}
			r := find(objs, b.RoleRef.Kind, b.RoleRef.Name)
			require.NotNil(t, r, "RoleBinding %s names %s %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			namespaced[b.Namespace] = append(namespaced[b.Namespace], convert[rbacv1.Role](t, r).Rules...)
		}
	}
	require.NotEmpty(t, cluster)
	return cluster, namespaced
}

// TestRenderedControllerRBACIsTrimmed checks what the controller may and may
// not do, as aggregated: RGDs are read and only their status and finalizers
// written, Leases only in its namespace, no Secrets, no namespaces.
func TestRenderedControllerRBACIsTrimmed(t *testing.T) {
	objs := render(t)
	rules, namespaced := controllerRules(t, objs)

	for _, tc := range []struct {
		group, resource string
		verbs           []string
		denied          []string
	}{
		{"kro.run", "resourcegraphdefinitions", []string{"get", "list", "watch", "patch"}, []string{"create", "update", "delete", "deletecollection"}},
		{"kro.run", "resourcegraphdefinitions/status", []string{"update", "patch"}, nil},
		{"kro.run", "resourcegraphdefinitions/finalizers", []string{"update"}, nil},
		{"internal.kro.run", "graphrevisions", []string{"get", "list", "watch", "create", "patch", "delete"}, []string{"deletecollection"}},
		{"internal.kro.run", "graphrevisions/status", []string{"patch"}, nil},
		{"apiextensions.k8s.io", "customresourcedefinitions", []string{"get", "list", "watch", "create", "patch", "delete"}, []string{"deletecollection"}},
		{"", "events", []string{"create", "patch"}, []string{"delete"}},
		{"events.k8s.io", "events", []string{"create", "patch"}, []string{"delete"}},
		{"", "secrets", nil, []string{"get", "list", "watch"}},
		{"", "namespaces", nil, []string{"get", "list", "watch", "create", "delete"}},
		{"coordination.k8s.io", "leases", nil, []string{"get", "create", "update"}},
		{"rbac.authorization.k8s.io", "clusterroles", nil, []string{"create", "update", "patch", "bind", "escalate"}},
	} {
		for _, v := range tc.verbs {
			assert.True(t, allows(rules, tc.group, tc.resource, v), "the controller may %s %s.%s", v, tc.resource, tc.group)
		}
		for _, v := range tc.denied {
			assert.False(t, allows(rules, tc.group, tc.resource, v), "the controller's ClusterRole must not grant %s on %s.%s", v, tc.resource, tc.group)
		}
	}
	for _, r := range rules {
		assert.Empty(t, r.NonResourceURLs, "non-resource URLs")
	}

	// Leader election: the Lease in its own namespace, nothing else there.
	require.Len(t, namespaced, 1, "one namespaced Role")
	ns := namespaced[namespace]
	for _, v := range []string{"get", "create", "update"} {
		assert.True(t, allows(ns, "coordination.k8s.io", "leases", v), "leader election needs %s on leases", v)
	}
	assert.False(t, allows(ns, "coordination.k8s.io", "leases", "delete"))
	assert.False(t, allows(ns, "", "configmaps", "update"), "leader election uses Leases, not ConfigMaps")

	// The writes the RBAC must leave to a finalizer are fenced by an
	// admission policy on the controller's identity.
	vap := find(objs, "ValidatingAdmissionPolicy", "korvid-controller-rgd-writes")
	require.NotNil(t, vap, "the controller's RGD writes are limited to finalizers")
	policy := convert[admissionregistrationv1.ValidatingAdmissionPolicy](t, vap)
	require.NotNil(t, policy.Spec.FailurePolicy)
	assert.Equal(t, admissionregistrationv1.Fail, *policy.Spec.FailurePolicy)
	require.NotEmpty(t, policy.Spec.MatchConditions)
	assert.Contains(t, policy.Spec.MatchConditions[0].Expression, ":korvid-controller")
	assert.True(t, slices.ContainsFunc(policy.Spec.Validations, func(v admissionregistrationv1.Validation) bool {
		return v.Expression == "object.spec == oldObject.spec"
	}), "the spec must not change")
	b := find(objs, "ValidatingAdmissionPolicyBinding", "korvid-controller-rgd-writes")
	require.NotNil(t, b)
	binding := convert[admissionregistrationv1.ValidatingAdmissionPolicyBinding](t, b)
	assert.Equal(t, policy.Name, binding.Spec.PolicyName)
	assert.Equal(t, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}, binding.Spec.ValidationActions)
}

// TestControllerRBACRulesAreCommented reads the controller's RBAC as
// written: every rule is preceded by a comment saying why it is there.
func TestControllerRBACRulesAreCommented(t *testing.T) {
	for _, file := range []string{"controller-base.yaml", "controller-leader-election.yaml"} {
		t.Run(file, func(t *testing.T) {
			f, err := os.Open(filepath.Join(envtest.RepoRoot(), "deploy", "kustomize", "rbac", file))
			require.NoError(t, err)
			defer f.Close()
			var prev string
			rules := 0
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "- apiGroups:") {
					rules++
					assert.True(t, strings.HasPrefix(prev, "#"), "rule %q has no comment above it", line)
				}
				prev = line
			}
			require.NoError(t, sc.Err())
			assert.Positive(t, rules)
		})
	}
}

// TestRenderedMetricsRBAC checks the RBAC of the authenticated metrics
// endpoints: a reader role for scrapers, and both binaries allowed to review
// the tokens and access of those who scrape them.
func TestRenderedMetricsRBAC(t *testing.T) {
	objs := render(t)
	reader := find(objs, "ClusterRole", "korvid-metrics-reader")
	require.NotNil(t, reader)
	assert.Equal(t, []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}, convert[rbacv1.ClusterRole](t, reader).Rules)

	for _, sa := range []string{"korvid-controller", "korvid-webhook"} {
		var rules []rbacv1.PolicyRule
		for _, o := range objs {
			if o.GetKind() != "ClusterRoleBinding" {
				continue
			}
			b := convert[rbacv1.ClusterRoleBinding](t, o)
			if !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
				return s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == namespace
			}) {
				continue
			}
			role := find(objs, "ClusterRole", b.RoleRef.Name)
			require.NotNil(t, role, "ClusterRoleBinding %s", b.Name)
			r := convert[rbacv1.ClusterRole](t, role)
			rules = append(rules, r.Rules...)
			if r.AggregationRule != nil {
				for _, o := range objs {
					if o.GetKind() != "ClusterRole" {
						continue
					}
					for _, sel := range r.AggregationRule.ClusterRoleSelectors {
						s, err := metav1.LabelSelectorAsSelector(&sel)
						require.NoError(t, err)
						if s.Matches(labels.Set(o.GetLabels())) {
							rules = append(rules, convert[rbacv1.ClusterRole](t, o).Rules...)
						}
					}
				}
			}
		}
		assert.True(t, allows(rules, "authentication.k8s.io", "tokenreviews", "create"), "%s reviews scrapers' tokens", sa)
		assert.True(t, allows(rules, "authorization.k8s.io", "subjectaccessreviews", "create"), "%s reviews scrapers' access", sa)
	}

	for _, d := range []string{"korvid-controller", "korvid-webhook"} {
		o := find(objs, "Deployment", d)
		require.NotNil(t, o)
		c := convert[appsv1.Deployment](t, o).Spec.Template.Spec.Containers[0]
		assert.NotContains(t, c.Args, "--metrics-secure=false", "%s serves metrics behind authentication", d)
		assert.NotContains(t, c.Args, "--enable-http2", "%s keeps HTTP/2 off", d)
		svc := find(objs, "Service", d+"-metrics")
		require.NotNil(t, svc, "a Service for scraping %s", d)
		s := convert[corev1.Service](t, svc)
		require.Len(t, s.Spec.Ports, 1)
		port, ok := containerPort(c, s.Spec.Ports[0].TargetPort.StrVal)
		require.True(t, ok, "the metrics Service targets a named container port")
		assert.Equal(t, flagPort(t, c, "metrics-bind-address"), port)
	}
}
