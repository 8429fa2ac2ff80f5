package v1alpha1

import "k8s.io/apimachinery/pkg/runtime/schema"

// DefaultSchemaGroup is the group of a generated kind whose schema names
// none; DefaultSchemaScope its scope. The mutating webhook writes both.
const (
	DefaultSchemaGroup = "kro.run"
	DefaultSchemaScope = ResourceScopeNamespaced
)

// DefaultSchema sets spec.schema's group and scope where they are empty, as
// the mutating webhook does.
func (r *ResourceGraphDefinition) DefaultSchema() {
	if s := r.Spec.Schema; s != nil {
		if s.Group == "" {
			s.Group = DefaultSchemaGroup
		}
		if s.Scope == "" {
			s.Scope = DefaultSchemaScope
		}
	}
}

// InstanceGVK returns the kind the RGD generates, its group defaulted, or
// false when the RGD has no schema or kind.
func (r *ResourceGraphDefinition) InstanceGVK() (schema.GroupVersionKind, bool) {
	if r == nil || r.Spec.Schema == nil || r.Spec.Schema.Kind == "" {
		return schema.GroupVersionKind{}, false
	}
	s := r.Spec.Schema
	g := s.Group
	if g == "" {
		g = DefaultSchemaGroup
	}
	return schema.GroupVersionKind{Group: g, Version: s.APIVersion, Kind: s.Kind}, true
}
