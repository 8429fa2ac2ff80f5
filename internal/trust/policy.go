package trust

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/internal/graph"
)

// Policy is the cluster administrator's word on which kinds RGDs may use. It
// is read from the --policy-file of both binaries, for example:
//
//	name: platform
//	forbidden:                   # never templated nor referenced
//	- group: rbac.authorization.k8s.io
//	  kind: ClusterRoleBinding
//	- group: ""                  # the core group
//	  kind: Secret
//	- group: example.com
//	  kind: "*"                  # every kind of the group
//	allow:                       # meta-kinds RGDs may template (none by default)
//	- group: kro.run
//	  kind: ResourceGraphDefinition
//
// A nil *Policy forbids nothing and allows no meta-kind.
type Policy struct {
	// Name identifies the policy in denials; it defaults to the file name.
	Name      string            `json:"name,omitempty"`
	Forbidden []ForbiddenKind   `json:"forbidden,omitempty"`
	Allow     []KindRef         `json:"allow,omitempty"`
	index     map[string]string // group/kind -> reason
}

// ForbiddenKind is one forbidden group/kind. Kind "*" forbids the whole group.
type ForbiddenKind struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	// Reason is added to the denial.
	Reason string `json:"reason,omitempty"`
}

// KindRef names a group/kind.
type KindRef struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
}

// metaKinds are the kinds that change what the API server serves, admits or
// trusts, or what korvid itself does. Templating one lets an RGD reach past
// the access review of its author (an inner RGD is created with the
// controller's rights), so they are refused unless the policy allows them.
var metaKinds = map[schema.GroupKind]bool{
	{Group: "kro.run", Kind: "ResourceGraphDefinition"}:                               true,
	{Group: graph.InternalGroup, Kind: "GraphRevision"}:                               true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:                 true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicy"}:          true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicyBinding"}:   true,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                             true,
}

// MetaKind reports whether templating gk is refused unless a policy allows it.
func MetaKind(gk schema.GroupKind) bool {
	return metaKinds[gk] || gk.Group == graph.InternalGroup
}

// LoadPolicy reads a policy file.
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy file: %w", err)
	}
	p := &Policy{}
	if err := yaml.UnmarshalStrict(b, p); err != nil {
		return nil, fmt.Errorf("parsing policy file %s: %w", path, err)
	}
	if p.Name == "" {
		p.Name = filepath.Base(path)
	}
	for i, f := range p.Forbidden {
		if f.Kind == "" {
			return nil, fmt.Errorf("policy file %s: forbidden[%d].kind is required (use \"*\" for every kind of the group)", path, i)
		}
	}
	for i, a := range p.Allow {
		if !MetaKind(schema.GroupKind{Group: a.Group, Kind: a.Kind}) {
			return nil, fmt.Errorf("policy file %s: allow[%d] (%s) is not a meta-kind; every other kind is allowed unless forbidden", path, i, groupKindString(a.Group, a.Kind))
		}
	}
	p.build()
	return p, nil
}

func (p *Policy) build() {
	p.index = make(map[string]string, len(p.Forbidden))
	for _, f := range p.Forbidden {
		p.index[f.Group+"/"+f.Kind] = f.Reason
	}
}

// Forbids reports whether gk is forbidden, and the reason given for it.
func (p *Policy) Forbids(gk schema.GroupKind) (bool, string) {
	if p == nil {
		return false, ""
	}
	if p.index == nil {
		p.build()
	}
	if r, ok := p.index[gk.Group+"/"+gk.Kind]; ok {
		return true, r
	}
	if r, ok := p.index[gk.Group+"/*"]; ok {
		return true, r
	}
	return false, ""
}

// Allows reports whether the policy lets RGDs template the meta-kind gk.
func (p *Policy) Allows(gk schema.GroupKind) bool {
	if p == nil {
		return false
	}
	for _, a := range p.Allow {
		if a.Group == gk.Group && a.Kind == gk.Kind {
			return true
		}
	}
	return false
}

func (p *Policy) name() string {
	if p == nil || p.Name == "" {
		return "the default policy"
	}
	return fmt.Sprintf("policy %q", p.Name)
}

// CheckKinds refuses templated or referenced kinds the policy forbids, and
// templated meta-kinds it does not allow.
func (p *Policy) CheckKinds(g *graph.Graph) field.ErrorList {
	var errs field.ErrorList
	for _, n := range g.Nodes {
		errs = append(errs, p.checkKind(n.GVK.GroupKind(), n.External, kindPath(n))...)
	}
	return errs
}

func (p *Policy) checkKind(gk schema.GroupKind, external bool, path *field.Path) field.ErrorList {
	if forbidden, reason := p.Forbids(gk); forbidden {
		msg := fmt.Sprintf("kind %s is forbidden by %s", groupKindString(gk.Group, gk.Kind), p.name())
		if reason != "" {
			msg += ": " + reason
		}
		return field.ErrorList{field.Forbidden(path, msg)}
	}
	if !external && MetaKind(gk) && !p.Allows(gk) {
		return field.ErrorList{field.Forbidden(path, fmt.Sprintf(
			"kind %s is a meta-kind (it changes what the cluster serves, admits or trusts) and may not be templated unless the korvid policy lists it under allow; %s does not",
			groupKindString(gk.Group, gk.Kind), p.name()))}
	}
	return nil
}

func groupKindString(group, kind string) string {
	if group == "" {
		group = "core"
	}
	return kind + " of group " + group
}

func kindPath(n *graph.Node) *field.Path {
	p := field.NewPath("spec", "resources").Index(n.Index)
	if n.External {
		return p.Child("externalRef", "kind")
	}
	return p.Child("template", "kind")
}
