package trust

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/resolver"
)

var repoRoot = filepath.Join("..", "..")

func staticResolver(t testing.TB) *resolver.Static {
	t.Helper()
	r, err := resolver.NewStaticFromFiles(
		filepath.Join(repoRoot, "testdata", "crds"),
		filepath.Join(repoRoot, "deploy", "kustomize", "crd", "bases"))
	require.NoError(t, err)
	return r
}

func compile(t testing.TB, src string) (*v1alpha1.ResourceGraphDefinition, *graph.Graph) {
	t.Helper()
	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, yaml.UnmarshalStrict([]byte(src), rgd))
	g, errs := graph.Compile(rgd, staticResolver(t), graph.DefaultOptions())
	require.Empty(t, errs)
	return rgd, g
}

// fakeAuthz allows everything except the listed resource/verb pairs.
type fakeAuthz struct {
	deny map[string]bool
	mu   sync.Mutex
	seen []authorizationv1.ResourceAttributes
}

func (f *fakeAuthz) Allowed(_ context.Context, _ authenticationv1.UserInfo, a authorizationv1.ResourceAttributes) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, a)
	return !f.deny[a.Resource+"/"+a.Verb], nil
}

func (f *fakeAuthz) asked(match func(authorizationv1.ResourceAttributes) bool) []authorizationv1.ResourceAttributes {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []authorizationv1.ResourceAttributes
	for _, a := range f.seen {
		if match(a) {
			out = append(out, a)
		}
	}
	return out
}

func byField(errs field.ErrorList) map[string]string {
	out := map[string]string{}
	for _, e := range errs {
		out[e.Field] += e.Error() + "\n"
	}
	return out
}

const widgetRGD = `
metadata: {name: widgets}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Widget
    spec:
      name: string | required=true
      regions: "[]string"
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}
  - id: perRegion
    forEach:
    - region: ${schema.spec.regions}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name + "-" + region}
  - id: db
    template:
      apiVersion: example.com/v1
      kind: Database
      metadata:
        name: ${schema.spec.name + "-db"}
        namespace: data
      spec:
        engine: postgres
  - id: deploy
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${config.metadata.name}
      spec:
        selector: {matchLabels: {app: x}}
        template:
          metadata: {labels: {app: x}}
          spec:
            containers: [{name: c, image: nginx}]
`

func TestPolicyForbidsKindsAndMetaKinds(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
name: no-workloads
forbidden:
- group: apps
  kind: Deployment
  reason: use the platform's App kind
- group: example.com
  kind: "*"
`), 0o600))
	p, err := LoadPolicy(file)
	require.NoError(t, err)
	_, g := compile(t, widgetRGD)
	errs := p.CheckKinds(g)
	require.Len(t, errs, 2)
	assert.Equal(t, "spec.resources[2].template.kind", errs[0].Field)
	assert.Contains(t, errs[0].Error(), `policy "no-workloads"`)
	assert.Equal(t, "spec.resources[3].template.kind", errs[1].Field)
	assert.Contains(t, errs[1].Error(), "use the platform's App kind")

	require.NoError(t, os.WriteFile(file, []byte("forbidden:\n- group: apps\n  knd: Deployment\n"), 0o600))
	_, err = LoadPolicy(file)
	require.Error(t, err, "a misspelt policy is refused, not ignored")

	require.NoError(t, os.WriteFile(file, []byte("allow:\n- group: apps\n  kind: Deployment\n"), 0o600))
	_, err = LoadPolicy(file)
	require.ErrorContains(t, err, "not a meta-kind", "allow lists only meta-kinds")
}

const nestedRGD = `
metadata: {name: platform}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Platform
    spec:
      team: string
  resources:
  - id: inner
    template:
      apiVersion: kro.run/v1alpha1
      kind: ResourceGraphDefinition
      metadata:
        name: ${schema.spec.team + "-app"}
      spec:
        schema:
          apiVersion: v1alpha1
          kind: TeamApp
          spec:
            image: string
        resources:
        - id: deploy
          template:
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: app
              namespace: kube-system
        - id: cfg
          externalRef:
            apiVersion: v1
            kind: Secret
            metadata:
              name: root-credentials
              namespace: kube-system
`

func TestMetaKindsAreRefusedUnlessAllowed(t *testing.T) {
	rgd, g := compile(t, nestedRGD)
	var none *Policy
	errs := none.CheckKinds(g)
	require.Len(t, errs, 1)
	assert.Equal(t, "spec.resources[0].template.kind", errs[0].Field)
	assert.Contains(t, errs[0].Error(), "ResourceGraphDefinition of group kro.run is a meta-kind")

	allow := &Policy{Name: "nested", Allow: []KindRef{{Group: "kro.run", Kind: "ResourceGraphDefinition"}}}
	assert.Empty(t, allow.CheckKinds(g))

	// With the kind allowed, the access review follows the inner RGD: its
	// Deployment in kube-system and its Secret are checked against the
	// outer author.
	authz := &fakeAuthz{deny: map[string]bool{"deployments/create": true, "secrets/get": true}}
	c := &Checker{Authorizer: authz, Resolver: staticResolver(t), Policy: allow}
	got := byField(c.Check(context.Background(), &authenticationv1.UserInfo{Username: "mallory"}, rgd, g))
	require.Len(t, got, 2, "%v", got)
	assert.Contains(t, got["spec.resources[0].template.spec.resources[0].template.kind"],
		`user "mallory" may not create deployments.apps (kind Deployment) in namespace "kube-system"`)
	assert.Contains(t, got["spec.resources[0].template.spec.resources[1].externalRef.kind"],
		`user "mallory" may not get secrets root-credentials (kind Secret) in namespace "kube-system"`)
}

func TestNestedKindsMustBeLiteral(t *testing.T) {
	src := strings.Replace(nestedRGD, "kind: Deployment", "kind: ${schema.spec.team}", 1)
	rgd, g := compile(t, src)
	c := &Checker{Authorizer: &fakeAuthz{}, Resolver: staticResolver(t),
		Policy: &Policy{Allow: []KindRef{{Group: "kro.run", Kind: "ResourceGraphDefinition"}}}}
	errs := c.Check(context.Background(), &authenticationv1.UserInfo{Username: "mallory"}, rgd, g)
	require.Len(t, errs, 1)
	assert.Equal(t, "spec.resources[0].template.spec.resources[0].template.kind", errs[0].Field)
	assert.Contains(t, errs[0].Error(), "must be literal")
}

func TestAccessCheckNamesEveryDeniedKind(t *testing.T) {
	rgd, g := compile(t, widgetRGD)
	authz := &fakeAuthz{deny: map[string]bool{"deployments/create": true, "deployments/delete": true, "databases/patch": true}}
	errs := (&Checker{Authorizer: authz}).Check(context.Background(), &authenticationv1.UserInfo{Username: "alice"}, rgd, g)
	got := byField(errs)
	require.Len(t, got, 2)
	assert.Contains(t, got["spec.resources[3].template.kind"], `user "alice" may not create, delete deployments.apps (kind Deployment) in all namespaces`)
	assert.Contains(t, got["spec.resources[2].template.kind"], `may not patch databases.example.com (kind Database) in namespace "data"`)
	// ConfigMaps appear twice in the graph but each verb is asked once per node.
	cms := authz.asked(func(a authorizationv1.ResourceAttributes) bool { return a.Resource == "configmaps" })
	assert.Len(t, cms, 2*len(ManagedVerbs))
	gets := authz.asked(func(a authorizationv1.ResourceAttributes) bool { return a.Resource == "deployments" && a.Verb == "get" })
	assert.Len(t, gets, 1, "korvid reads templated objects back, so the author must be able to read them")
}

func TestRBACTemplatesNeedEscalateAndBind(t *testing.T) {
	rgd, g := compile(t, `
metadata: {name: rbac}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Team
    spec:
      name: string
  resources:
  - id: role
    template:
      apiVersion: rbac.authorization.k8s.io/v1
      kind: ClusterRole
      metadata: {name: "${schema.spec.name}"}
      rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
  - id: binding
    template:
      apiVersion: rbac.authorization.k8s.io/v1
      kind: RoleBinding
      metadata: {name: "${schema.spec.name}", namespace: team}
      roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
      subjects: [{kind: User, name: "${schema.spec.name}"}]
`)
	authz := &fakeAuthz{deny: map[string]bool{"clusterroles/escalate": true, "clusterroles/bind": true}}
	got := byField((&Checker{Authorizer: authz}).Check(context.Background(), &authenticationv1.UserInfo{Username: "eve"}, rgd, g))
	require.Len(t, got, 2, "%v", got)
	assert.Contains(t, got["spec.resources[0].template.kind"], "may not escalate clusterroles.rbac.authorization.k8s.io (kind ClusterRole)")
	assert.Contains(t, got["spec.resources[1].template.roleRef"], `may not bind clusterroles.rbac.authorization.k8s.io cluster-admin (kind RoleBinding) in namespace "team"`)
}

func TestExternalRefReadsAreReviewed(t *testing.T) {
	rgd, g := compile(t, `
metadata: {name: reader}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Reader
    spec:
      ns: string
    status:
      loot: ${secret.data}
  resources:
  - id: secret
    externalRef:
      apiVersion: v1
      kind: Secret
      metadata: {name: root, namespace: kube-system}
  - id: maps
    externalRef:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        namespace: ${schema.spec.ns}
        selector: {matchLabels: {team: a}}
`)
	authz := &fakeAuthz{deny: map[string]bool{"secrets/get": true}}
	got := byField((&Checker{Authorizer: authz}).Check(context.Background(), &authenticationv1.UserInfo{Username: "mallory"}, rgd, g))
	require.Len(t, got, 1, "%v", got)
	assert.Contains(t, got["spec.resources[0].externalRef.kind"], `user "mallory" may not get secrets root (kind Secret) in namespace "kube-system"`)
	lists := authz.asked(func(a authorizationv1.ResourceAttributes) bool { return a.Resource == "configmaps" })
	require.Len(t, lists, 1)
	assert.Equal(t, authorizationv1.ResourceAttributes{Verb: "list", Resource: "configmaps"}, lists[0],
		"a selector in a computed namespace is a list in every namespace")
	for _, a := range authz.asked(func(authorizationv1.ResourceAttributes) bool { return true }) {
		assert.NotContains(t, []string{"create", "update", "patch", "delete"}, a.Verb, "externalRefs are only read")
	}
}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func TestCachingAuthorizerReusesOnlyAllowedAnswers(t *testing.T) {
	inner := &fakeAuthz{deny: map[string]bool{"secrets/create": true}}
	clock := &fakeClock{now: time.Unix(1000, 0)}
	a := newCachingAuthorizer(inner, 10*time.Second, 100, clock)
	alice := authenticationv1.UserInfo{Username: "alice", Groups: []string{"b", "a"}}
	cm := authorizationv1.ResourceAttributes{Verb: "create", Resource: "configmaps"}
	secret := authorizationv1.ResourceAttributes{Verb: "create", Resource: "secrets"}
	ask := func(u authenticationv1.UserInfo, attrs authorizationv1.ResourceAttributes) bool {
		ok, err := a.Allowed(context.Background(), u, attrs)
		require.NoError(t, err)
		return ok
	}
	require.True(t, ask(alice, cm))
	require.True(t, ask(authenticationv1.UserInfo{Username: "alice", Groups: []string{"a", "b"}}, cm))
	assert.Len(t, inner.seen, 1, "the same user and groups in another order reuse the answer")
	require.True(t, ask(authenticationv1.UserInfo{Username: "bob"}, cm))
	assert.Len(t, inner.seen, 2, "another user is asked about")

	require.False(t, ask(alice, secret))
	require.False(t, ask(alice, secret))
	assert.Len(t, inner.seen, 4, "denials are asked again every time")

	clock.now = clock.now.Add(11 * time.Second)
	inner.deny["configmaps/create"] = true
	assert.False(t, ask(alice, cm), "an expired answer is asked again")
}

func TestAuthorRecord(t *testing.T) {
	rgd, _ := compile(t, widgetRGD)
	s := NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	alice := authenticationv1.UserInfo{Username: "alice", Groups: []string{"devs"}, Extra: map[string]authenticationv1.ExtraValue{"scopes": {"a"}}}
	v, err := s.Sign(alice, rgd)
	require.NoError(t, err)
	rgd.Annotations = map[string]string{AnnotationAuthor: v}

	got, err := s.Verify(rgd)
	require.NoError(t, err)
	assert.Equal(t, alice, got)

	changed := rgd.DeepCopy()
	changed.Spec.Resources = changed.Spec.Resources[:1]
	_, err = s.Verify(changed)
	require.ErrorContains(t, err, "another version of the spec", "a record is bound to the spec it was made for")

	forged := rgd.DeepCopy()
	enc, sig, _ := strings.Cut(v, ".")
	forged.Annotations[AnnotationAuthor] = strings.Replace(enc, "a", "b", 1) + "." + sig
	_, err = s.Verify(forged)
	require.Error(t, err, "a changed record does not verify")

	_, err = NewSigner([]byte("another key, another installation")).Verify(rgd)
	require.ErrorContains(t, err, "not signed by korvid's webhook")

	delete(rgd.Annotations, AnnotationAuthor)
	_, err = s.Verify(rgd)
	require.ErrorIs(t, err, ErrNoAuthor)

	_, err = NewSigner(nil).Sign(alice, rgd)
	require.ErrorIs(t, err, ErrNoSigningKey)
}

func TestReservedKeys(t *testing.T) {
	for k, want := range map[string]bool{
		"kro.run/owned": true, "internal.kro.run/author": true, "rbac.kro.run/x": true,
		"app.kubernetes.io/name": false, "kro.run": false, "notkro.run/x": false, "example.com/kro.run": false,
	} {
		assert.Equal(t, want, graph.ReservedKey(k), k)
	}
}
