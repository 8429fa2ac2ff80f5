package graph

import extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

// InstanceSpecSchema returns the schema of the instance spec in a generated
// CRD (the spec property of its version's schema), or nil when the CRD has
// none. The webhook and the CLI compare these between two versions of an RGD
// to find breaking changes.
func InstanceSpecSchema(crd *extv1.CustomResourceDefinition) *extv1.JSONSchemaProps {
	if crd == nil || len(crd.Spec.Versions) == 0 {
		return nil
	}
	return VersionSpecSchema(&crd.Spec.Versions[0])
}

// VersionSpecSchema returns the spec property of a CRD version's schema, or
// nil when it has none.
func VersionSpecSchema(v *extv1.CustomResourceDefinitionVersion) *extv1.JSONSchemaProps {
	if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
		return nil
	}
	s, ok := v.Schema.OpenAPIV3Schema.Properties["spec"]
	if !ok {
		return nil
	}
	return &s
}
