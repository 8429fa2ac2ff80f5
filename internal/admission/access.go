package admission

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// managedVerbs are the verbs the controller uses on a templated kind on the
// author's behalf; the author must hold all of them.
var managedVerbs = []string{"create", "update", "patch", "delete"}

// accessTarget is one group/resource/namespace an RGD templates.
type accessTarget struct {
	group, resource, namespace, kind string
	path                             *field.Path
}

// checkAccess denies every templated kind the user may not manage. A
// namespaced kind whose template names a literal namespace is checked in
// that namespace; otherwise in all namespaces (instances may live anywhere).
func checkAccess(ctx context.Context, authz Authorizer, user authenticationv1.UserInfo, c *Compiled) field.ErrorList {
	var targets []accessTarget
	seen := map[string]bool{}
	for _, n := range c.Graph.Nodes {
		if n.External {
			continue
		}
		ns := ""
		if n.Namespaced {
			ns = literalNamespace(c.template(n.Index))
		}
		key := n.GVK.Group + "/" + n.Resource + "/" + ns
		if seen[key] {
			continue
		}
		seen[key] = true
		targets = append(targets, accessTarget{group: n.GVK.Group, resource: n.Resource, namespace: ns, kind: n.GVK.Kind,
			path: field.NewPath("spec", "resources").Index(n.Index).Child("template", "kind")})
	}

	type answer struct {
		target int
		verb   string
		ok     bool
		err    error
	}
	answers := make([]answer, 0, len(targets)*len(managedVerbs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, t := range targets {
		for _, verb := range managedVerbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := authz.Allowed(ctx, user, authorizationv1.ResourceAttributes{
					Group: t.group, Resource: t.resource, Namespace: t.namespace, Verb: verb,
				})
				mu.Lock()
				answers = append(answers, answer{target: i, verb: verb, ok: ok, err: err})
				mu.Unlock()
			}()
		}
	}
	wg.Wait()

	denied := make([][]string, len(targets))
	var errs field.ErrorList
	for _, a := range answers {
		if a.err != nil {
			errs = append(errs, field.InternalError(targets[a.target].path, fmt.Errorf("checking the author's permissions: %w", a.err)))
			continue
		}
		if !a.ok {
			denied[a.target] = append(denied[a.target], a.verb)
		}
	}
	for i, t := range targets {
		if len(denied[i]) == 0 {
			continue
		}
		verbs := slices.Clone(denied[i])
		slices.SortFunc(verbs, func(a, b string) int { return slices.Index(managedVerbs, a) - slices.Index(managedVerbs, b) })
		where := "cluster-wide"
		if t.namespace != "" {
			where = fmt.Sprintf("in namespace %q", t.namespace)
		} else if ns := c.namespacedOf(t); ns {
			where = "in all namespaces"
		}
		gr := t.resource
		if t.group != "" {
			gr += "." + t.group
		}
		errs = append(errs, field.Forbidden(t.path, fmt.Sprintf(
			"user %q may not %s %s (kind %s) %s; an RGD may only template kinds its author may create, update, patch and delete, because korvid manages them on the author's behalf",
			user.Username, strings.Join(verbs, ", "), gr, t.kind, where)))
	}
	return errs
}

func (c *Compiled) template(index int) map[string]any {
	if index < 0 || index >= len(c.templates) {
		return nil
	}
	return c.templates[index]
}

func (c *Compiled) namespacedOf(t accessTarget) bool {
	for _, n := range c.Graph.Nodes {
		if n.GVK.Group == t.group && n.Resource == t.resource {
			return n.Namespaced
		}
	}
	return false
}

// literalNamespace returns the template's metadata.namespace when it is a
// plain string without expressions.
func literalNamespace(tmpl map[string]any) string {
	meta, _ := tmpl["metadata"].(map[string]any)
	ns, _ := meta["namespace"].(string)
	if strings.Contains(ns, "${") {
		return ""
	}
	return ns
}

// checkPolicy denies templated or referenced kinds the policy forbids.
func checkPolicy(p *Policy, g *graph.Graph) field.ErrorList {
	if p == nil {
		return nil
	}
	var errs field.ErrorList
	for _, n := range g.Nodes {
		forbidden, reason := p.Forbids(n.GVK.GroupKind())
		if !forbidden {
			continue
		}
		path := field.NewPath("spec", "resources").Index(n.Index)
		if n.External {
			path = path.Child("externalRef", "kind")
		} else {
			path = path.Child("template", "kind")
		}
		group := n.GVK.Group
		if group == "" {
			group = "core"
		}
		msg := fmt.Sprintf("kind %s of group %s is forbidden by policy %q", n.GVK.Kind, group, p.Name)
		if reason != "" {
			msg += ": " + reason
		}
		errs = append(errs, field.Forbidden(path, msg))
	}
	return errs
}

// CachingAuthorizer remembers allowed answers of another Authorizer for a
// short time, as the API server's webhook authorizer does, so that
// re-applying an RGD does not repeat every SubjectAccessReview. Denials are
// never cached: a permission granted a moment ago takes effect at once. A
// revoked permission may be honoured for up to TTL.
type CachingAuthorizer struct {
	Inner Authorizer
	TTL   time.Duration
	// MaxEntries bounds the cache; it is emptied when full.
	MaxEntries int

	mu      sync.Mutex
	allowed map[string]time.Time
	now     func() time.Time
}

// Allowed implements Authorizer.
func (a *CachingAuthorizer) Allowed(ctx context.Context, user authenticationv1.UserInfo, attrs authorizationv1.ResourceAttributes) (bool, error) {
	key := accessKey(user, attrs)
	now := time.Now
	if a.now != nil {
		now = a.now
	}
	a.mu.Lock()
	until, ok := a.allowed[key]
	a.mu.Unlock()
	if ok && now().Before(until) {
		return true, nil
	}
	allowed, err := a.Inner.Allowed(ctx, user, attrs)
	if err != nil || !allowed {
		return allowed, err
	}
	a.mu.Lock()
	if a.allowed == nil || a.MaxEntries > 0 && len(a.allowed) >= a.MaxEntries {
		a.allowed = map[string]time.Time{}
	}
	a.allowed[key] = now().Add(a.TTL)
	a.mu.Unlock()
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
		attrs.Verb, attrs.Group, attrs.Resource, attrs.Namespace}, "\x00")
}
