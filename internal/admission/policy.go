package admission

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// Policy lists group/kinds no RGD may template or reference. It is read from
// the --policy-file, for example:
//
//	name: no-cluster-rbac
//	forbidden:
//	- group: rbac.authorization.k8s.io
//	  kind: ClusterRoleBinding
//	- group: rbac.authorization.k8s.io
//	  kind: ClusterRole
//	- group: ""          # the core group
//	  kind: Secret
//	- group: example.com
//	  kind: "*"          # every kind of the group
type Policy struct {
	// Name identifies the policy in denials; it defaults to the file name.
	Name      string            `json:"name,omitempty"`
	Forbidden []ForbiddenKind   `json:"forbidden"`
	index     map[string]string // group/kind -> reason
}

// ForbiddenKind is one forbidden group/kind. Kind "*" forbids the whole group.
type ForbiddenKind struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	// Reason is added to the denial.
	Reason string `json:"reason,omitempty"`
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
