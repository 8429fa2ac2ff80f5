package trust

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
)

// Authorizer answers whether a user may perform an action.
type Authorizer interface {
	Allowed(ctx context.Context, user authenticationv1.UserInfo, attrs authorizationv1.ResourceAttributes) (bool, error)
}

// SARAuthorizer asks the API server with SubjectAccessReviews.
type SARAuthorizer struct {
	Client client.Client
}

// Allowed implements Authorizer.
func (a SARAuthorizer) Allowed(ctx context.Context, user authenticationv1.UserInfo, attrs authorizationv1.ResourceAttributes) (bool, error) {
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, Groups: user.Groups, UID: user.UID, Extra: extra,
		ResourceAttributes: &attrs,
	}}
	if err := a.Client.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("SubjectAccessReview for %s %s: %w", attrs.Verb, attrs.Resource, err)
	}
	return sar.Status.Allowed, nil
}

// CachingAuthorizer remembers allowed answers of another Authorizer for a
// short time, as the API server's webhook authorizer does, so that
// re-applying an RGD does not repeat every SubjectAccessReview. Denials are
// never cached: a permission granted a moment ago takes effect at once. A
// revoked permission may be honoured for up to TTL.
type CachingAuthorizer struct {
	inner   Authorizer
	ttl     time.Duration
	allowed *cache.LRUExpireCache
}

// NewCachingAuthorizer caches up to size allowed answers of inner for ttl.
func NewCachingAuthorizer(inner Authorizer, ttl time.Duration, size int) *CachingAuthorizer {
	return newCachingAuthorizer(inner, ttl, size, clock.RealClock{})
}

func newCachingAuthorizer(inner Authorizer, ttl time.Duration, size int, c cache.Clock) *CachingAuthorizer {
	return &CachingAuthorizer{inner: inner, ttl: ttl, allowed: cache.NewLRUExpireCacheWithClock(size, c)}
}

// Allowed implements Authorizer.
func (a *CachingAuthorizer) Allowed(ctx context.Context, user authenticationv1.UserInfo, attrs authorizationv1.ResourceAttributes) (bool, error) {
	key := accessKey(user, attrs)
	if _, ok := a.allowed.Get(key); ok {
		return true, nil
	}
	allowed, err := a.inner.Allowed(ctx, user, attrs)
	if err != nil || !allowed {
		return allowed, err
	}
	a.allowed.Add(key, true, a.ttl)
	return true, nil
}

func accessKey(user authenticationv1.UserInfo, attrs authorizationv1.ResourceAttributes) string {
	groups := slices.Clone(user.Groups)
	slices.Sort(groups)
	extra := make([]string, 0, len(user.Extra))
	for k, v := range user.Extra {
		vals := slices.Clone(v)
		slices.Sort(vals)
		extra = append(extra, k+"="+strings.Join(vals, ","))
	}
	slices.Sort(extra)
	return strings.Join([]string{user.Username, user.UID, strings.Join(groups, ","), strings.Join(extra, ";"),
		attrs.Verb, attrs.Group, attrs.Resource, attrs.Namespace, attrs.Name}, "\x00")
}

// ManagedVerbs are the verbs the controller uses on a templated kind on the
// author's behalf: it writes the objects and reads them back into the
// expressions of the graph (and so into the instance's status). The author
// must hold all of them.
var ManagedVerbs = []string{"get", "create", "update", "patch", "delete"}

// maxNesting bounds how deep templated RGDs are followed.
const maxNesting = 4

const rbacGroup = "rbac.authorization.k8s.io"

// request is one access question with the field it is asked for.
type request struct {
	attrs authorizationv1.ResourceAttributes
	// namespaced tells where an empty namespace means: all of them, or
	// cluster-wide.
	namespaced bool
	kind       string
	path       *field.Path
	// why says in a denial what korvid would do with the permission.
	why string
}

// Checker decides what an RGD may make korvid do. The webhook and the
// controller run the same checks: the webhook against the requesting user,
// the controller against the author the webhook recorded (see Signer).
type Checker struct {
	// Authorizer answers access questions; nil turns the access review off
	// (the policy still applies).
	Authorizer Authorizer
	// Resolver maps the kinds of templated RGDs to resources.
	Resolver graph.SchemaResolver
	Policy   *Policy
}

// Check refuses what the policy forbids and everything the RGD would make the
// controller do that its author may not do: write (and read back) every
// templated kind, escalate or bind the RBAC roles it templates, read every
// externalRef, and (through a templated RGD the policy allows) everything
// the inner RGD would do, all checked against the outer author.
//
// A nil user skips the access review (the policy still applies): the
// controller passes nil when it cannot verify who the author is, and reports
// that on its own.
func (a *Checker) Check(ctx context.Context, user *authenticationv1.UserInfo, rgd *v1alpha1.ResourceGraphDefinition, g *graph.Graph) field.ErrorList {
	errs := a.Policy.CheckKinds(g)
	var reqs []request
	for _, n := range g.Nodes {
		base := field.NewPath("spec", "resources").Index(n.Index)
		if n.External {
			reqs = append(reqs, externalRequest(n.GVK.Kind, n.GVK.Group, n.Resource, n.Namespaced, externalRefMap(rgd, n.Index), base.Child("externalRef")))
			continue
		}
		tmpl := templateMap(rgd, n.Index)
		r, e := a.templateRequests(tmpl, n.GVK, n.Resource, n.Namespaced, base.Child("template"), 0)
		reqs = append(reqs, r...)
		errs = append(errs, e...)
	}
	if a.Authorizer == nil || user == nil {
		return errs
	}
	return append(errs, a.ask(ctx, *user, reqs)...)
}

// templateRequests lists the questions for one templated object (and, for a
// templated RGD, for what it templates in turn).
func (a *Checker) templateRequests(tmpl map[string]any, gvk schema.GroupVersionKind, resource string, namespaced bool, path *field.Path, depth int) ([]request, field.ErrorList) {
	ns := ""
	if namespaced {
		ns = literal(tmpl, "metadata", "namespace")
	}
	kindPath := path.Child("kind")
	reqs := []request{}
	for _, verb := range ManagedVerbs {
		reqs = append(reqs, request{
			attrs:      authorizationv1.ResourceAttributes{Group: gvk.Group, Resource: resource, Namespace: ns, Verb: verb},
			namespaced: namespaced, kind: gvk.Kind, path: kindPath,
			why: "korvid creates, updates, reads and deletes templated objects on the author's behalf",
		})
	}
	if gvk.Group == rbacGroup {
		switch gvk.Kind {
		case "Role", "ClusterRole":
			reqs = append(reqs, request{
				attrs:      authorizationv1.ResourceAttributes{Group: rbacGroup, Resource: resource, Namespace: ns, Verb: "escalate"},
				namespaced: namespaced, kind: gvk.Kind, path: kindPath,
				why: "a templated role may grant permissions its author does not hold, which the API server allows only with escalate",
			})
		case "RoleBinding", "ClusterRoleBinding":
			roleKind := literal(tmpl, "roleRef", "kind")
			role := "roles"
			if roleKind == "ClusterRole" || roleKind == "" || strings.Contains(roleKind, "${") {
				role = "clusterroles"
			}
			bindNS := ns
			if gvk.Kind == "ClusterRoleBinding" {
				bindNS = ""
			}
			reqs = append(reqs, request{
				attrs:      authorizationv1.ResourceAttributes{Group: rbacGroup, Resource: role, Namespace: bindNS, Verb: "bind", Name: literal(tmpl, "roleRef", "name")},
				namespaced: gvk.Kind == "RoleBinding", kind: gvk.Kind, path: path.Child("roleRef"),
				why: "a templated binding grants the referenced role, which the API server allows only with bind on it",
			})
		}
	}
	var errs field.ErrorList
	if gvk.GroupKind() == (schema.GroupKind{Group: v1alpha1.GroupVersion.Group, Kind: "ResourceGraphDefinition"}) {
		r, e := a.nestedRequests(tmpl, path, depth+1)
		reqs = append(reqs, r...)
		errs = append(errs, e...)
	}
	return reqs, errs
}

// nestedRequests follows a templated RGD: every kind it templates or
// references is checked against the outer author, as if the outer author
// had written it. Kinds computed by expressions cannot be checked and are refused.
func (a *Checker) nestedRequests(outer map[string]any, path *field.Path, depth int) ([]request, field.ErrorList) {
	if depth > maxNesting {
		return nil, field.ErrorList{field.Forbidden(path, fmt.Sprintf("ResourceGraphDefinitions nested more than %d deep are not followed", maxNesting))}
	}
	spec, _ := outer["spec"].(map[string]any)
	resources, ok := spec["resources"].([]any)
	if !ok {
		if _, computed := spec["resources"].(string); computed {
			return nil, field.ErrorList{field.Forbidden(path.Child("spec", "resources"), "the resources of a templated ResourceGraphDefinition must be written out, not computed: korvid checks them against the author's permissions")}
		}
		return nil, nil
	}
	var reqs []request
	var errs field.ErrorList
	for i, r := range resources {
		res, _ := r.(map[string]any)
		rp := path.Child("spec", "resources").Index(i)
		for _, part := range []string{"template", "externalRef"} {
			obj, ok := res[part].(map[string]any)
			if !ok {
				continue
			}
			op := rp.Child(part)
			apiVersion, kind := literal(obj, "apiVersion"), literal(obj, "kind")
			if apiVersion == "" || kind == "" {
				errs = append(errs, field.Forbidden(op.Child("kind"), "the apiVersion and kind of a templated ResourceGraphDefinition's resources must be literal: korvid checks them against the author's permissions"))
				continue
			}
			gv, err := schema.ParseGroupVersion(apiVersion)
			if err != nil {
				errs = append(errs, field.Invalid(op.Child("apiVersion"), apiVersion, err.Error()))
				continue
			}
			gvk := gv.WithKind(kind)
			if e := a.Policy.checkKind(gvk.GroupKind(), part == "externalRef", op.Child("kind")); len(e) > 0 {
				errs = append(errs, e...)
				continue
			}
			rk, err := a.resolve(gvk)
			if err != nil {
				errs = append(errs, field.Forbidden(op.Child("kind"), fmt.Sprintf("cannot check the author's permissions on %s: %v", gvk, err)))
				continue
			}
			if part == "externalRef" {
				reqs = append(reqs, externalRequest(kind, gvk.Group, rk.Resource, rk.Namespaced, obj, op))
				continue
			}
			r, e := a.templateRequests(obj, gvk, rk.Resource, rk.Namespaced, op, depth)
			reqs = append(reqs, r...)
			errs = append(errs, e...)
		}
	}
	return reqs, errs
}

func (a *Checker) resolve(gvk schema.GroupVersionKind) (*graph.ResolvedKind, error) {
	if a.Resolver == nil {
		return nil, fmt.Errorf("no schema resolver")
	}
	return a.Resolver.Resolve(gvk)
}

// externalRequest is the read an externalRef makes: get by name or list by
// selector, in its literal namespace or, when computed or defaulted to the
// instance's, in every namespace.
func externalRequest(kind, group, resource string, namespaced bool, ref map[string]any, path *field.Path) request {
	attrs := authorizationv1.ResourceAttributes{Group: group, Resource: resource, Verb: "get"}
	if namespaced {
		attrs.Namespace = literal(ref, "metadata", "namespace")
	}
	if _, bySelector := nested(ref, "metadata", "selector"); bySelector {
		attrs.Verb = "list"
	} else {
		attrs.Name = literal(ref, "metadata", "name")
	}
	return request{attrs: attrs, namespaced: namespaced, kind: kind, path: path.Child("kind"),
		why: "korvid reads referenced objects on the author's behalf, and their content can reach the instance's status"}
}

// ask puts every question to the authorizer at once and turns the denials
// into errors, one per kind and field.
func (a *Checker) ask(ctx context.Context, user authenticationv1.UserInfo, reqs []request) field.ErrorList {
	type key struct {
		path  string
		attrs authorizationv1.ResourceAttributes
	}
	seen := map[key]bool{}
	uniq := reqs[:0:0]
	for _, r := range reqs {
		k := key{r.path.String(), r.attrs}
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, r)
		}
	}
	ok := make([]bool, len(uniq))
	errs := make([]error, len(uniq))
	var wg sync.WaitGroup
	for i, r := range uniq {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok[i], errs[i] = a.Authorizer.Allowed(ctx, user, r.attrs)
		}()
	}
	wg.Wait()

	// Group the denied verbs of one field and resource into one error.
	type denial struct {
		r     request
		verbs []string
	}
	var order []string
	denials := map[string]*denial{}
	var out field.ErrorList
	for i, r := range uniq {
		if errs[i] != nil {
			out = append(out, field.InternalError(r.path, fmt.Errorf("checking the author's permissions: %w", errs[i])))
			continue
		}
		if ok[i] {
			continue
		}
		k := strings.Join([]string{r.path.String(), r.attrs.Group, r.attrs.Resource, r.attrs.Namespace, r.attrs.Name}, "\x00")
		d, found := denials[k]
		if !found {
			d = &denial{r: r}
			denials[k] = d
			order = append(order, k)
		}
		d.verbs = append(d.verbs, r.attrs.Verb)
	}
	for _, k := range order {
		d := denials[k]
		out = append(out, field.Forbidden(d.r.path, fmt.Sprintf("user %q may not %s %s (kind %s) %s; %s",
			user.Username, strings.Join(d.verbs, ", "), resourceString(d.r.attrs), d.r.kind, where(d.r), d.r.why)))
	}
	return out
}

func resourceString(a authorizationv1.ResourceAttributes) string {
	s := a.Resource
	if a.Group != "" {
		s += "." + a.Group
	}
	if a.Name != "" {
		s += " " + a.Name
	}
	return s
}

func where(r request) string {
	switch {
	case r.attrs.Namespace != "":
		return fmt.Sprintf("in namespace %q", r.attrs.Namespace)
	case r.namespaced:
		return "in all namespaces"
	default:
		return "cluster-wide"
	}
}

// templateMap decodes the template of spec.resources[i]; nil when absent.
func templateMap(rgd *v1alpha1.ResourceGraphDefinition, i int) map[string]any {
	if i < 0 || i >= len(rgd.Spec.Resources) {
		return nil
	}
	t := rgd.Spec.Resources[i].Template
	if len(t.Raw) == 0 && t.Object != nil {
		b, err := json.Marshal(t.Object)
		if err != nil {
			return nil
		}
		return decode(b)
	}
	return decode(t.Raw)
}

// externalRefMap returns spec.resources[i].externalRef as a map.
func externalRefMap(rgd *v1alpha1.ResourceGraphDefinition, i int) map[string]any {
	if i < 0 || i >= len(rgd.Spec.Resources) || rgd.Spec.Resources[i].ExternalRef == nil {
		return nil
	}
	b, err := json.Marshal(rgd.Spec.Resources[i].ExternalRef)
	if err != nil {
		return nil
	}
	return decode(b)
}

func decode(raw []byte) map[string]any {
	var m map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

func nested(m map[string]any, keys ...string) (any, bool) {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// literal returns a string field that holds no expression; "" otherwise.
func literal(m map[string]any, keys ...string) string {
	v, _ := nested(m, keys...)
	s, _ := v.(string)
	if strings.Contains(s, "${") {
		return ""
	}
	return s
}
