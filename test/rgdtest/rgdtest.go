// Package rgdtest builds ResourceGraphDefinitions for tests, so that a test
// spells out only what it varies: the kind, its spec and status fields and
// the resources; everything else (apiVersion v1alpha1, group kro.run,
// namespaced scope) has the default an RGD written by hand would have.
//
//	rgdtest.New("ephemerals", "Ephemeral").
//		Spec("name", "string").
//		ConfigMap("config", "${schema.metadata.name}", nil).
//		Build()
package rgdtest

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/korvid/korvid/api/v1alpha1"
)

// Builder builds one ResourceGraphDefinition.
type Builder struct {
	rgd          v1alpha1.ResourceGraphDefinition
	spec, status map[string]any
}

// New starts an RGD named name that generates kind (version v1alpha1).
func New(name, kind string) *Builder {
	return &Builder{
		rgd: v1alpha1.ResourceGraphDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.ResourceGraphDefinitionSpec{
				Schema:    &v1alpha1.Schema{APIVersion: "v1alpha1", Kind: kind},
				Resources: []*v1alpha1.Resource{},
			},
		},
		spec: map[string]any{}, status: map[string]any{},
	}
}

// Spec adds a field of the instance spec, in SimpleSchema ("string |
// required=true", or a map of fields).
func (b *Builder) Spec(field string, def any) *Builder {
	b.spec[field] = def
	return b
}

// Status adds a field of the instance status, usually a ${...} expression.
func (b *Builder) Status(field string, expr any) *Builder {
	b.status[field] = expr
	return b
}

// Scope sets the scope of the generated kind.
func (b *Builder) Scope(s v1alpha1.ResourceScope) *Builder {
	b.rgd.Spec.Schema.Scope = s
	return b
}

// Resource adds a resource with the given template.
func (b *Builder) Resource(id string, template map[string]any) *Builder {
	b.rgd.Spec.Resources = append(b.rgd.Spec.Resources, &v1alpha1.Resource{ID: id, Template: raw(template)})
	return b
}

// ConfigMap adds a ConfigMap resource named name (a literal or an
// expression) with data, the most common child in the suites.
func (b *Builder) ConfigMap(id, name string, data map[string]any) *Builder {
	t := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name}}
	if data != nil {
		t["data"] = data
	}
	return b.Resource(id, t)
}

// Build returns the RGD.
func (b *Builder) Build() *v1alpha1.ResourceGraphDefinition {
	out := b.rgd.DeepCopy()
	out.Spec.Schema.Spec = raw(b.spec)
	if len(b.status) > 0 {
		out.Spec.Schema.Status = raw(b.status)
	}
	return out
}

func raw(v any) runtime.RawExtension {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings and maps always encode
	}
	return runtime.RawExtension{Raw: b}
}

// SlowLoop loops n² times over the instance's spec.items without allocating
// per step: 25 million steps over the 5,000 items Slow allows.
const SlowLoop = "schema.spec.items.all(x, schema.spec.items.all(y, x + y >= 0))"

// Slow starts the RGD the evaluation bound tests share: kind Slow with a
// list of up to 5,000 integers, and a ConfigMap "cm" whose field "slow"
// runs SlowLoop.
func Slow() *Builder {
	return New("slow", "Slow").Spec("items", "[]integer | maxItems=5000").
		ConfigMap("cm", "slow", map[string]any{"slow": "${string(" + SlowLoop + ")}"})
}
