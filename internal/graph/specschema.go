package graph

import (
	"fmt"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/korvid/korvid/internal/graph/schemadiff"
)

// BreakingChanges lists what, from the CRD generated for one version of an
// RGD to the CRD generated for the next, would break existing instances: a
// renamed version, and the breaking changes of the instance spec schema
// (schemadiff.Breaking; a version without a spec schema accepts any object).
// Paths are relative to the RGD's spec.schema. The webhook refuses these
// changes, and the controller does not write the CRD, unless the RGD is
// annotated kro.run/allow-breaking-changes; the CLI's diff predicts both.
func BreakingChanges(old, new *extv1.CustomResourceDefinition) []schemadiff.Change {
	oldV, newV := StorageVersion(old), StorageVersion(new)
	if oldV == nil || newV == nil {
		return nil
	}
	var out []schemadiff.Change
	if oldV.Name != newV.Name {
		out = append(out, schemadiff.Change{Path: "apiVersion", Description: fmt.Sprintf("version renamed from %s to %s", oldV.Name, newV.Name)})
	}
	return append(out, schemadiff.Breaking(specOrAny(oldV), specOrAny(newV))...)
}

// StorageVersion is the version a CRD stores (its first when none is marked),
// or nil when it has none.
func StorageVersion(crd *extv1.CustomResourceDefinition) *extv1.CustomResourceDefinitionVersion {
	if crd == nil || len(crd.Spec.Versions) == 0 {
		return nil
	}
	for i := range crd.Spec.Versions {
		if crd.Spec.Versions[i].Storage {
			return &crd.Spec.Versions[i]
		}
	}
	return &crd.Spec.Versions[0]
}

// InstanceSpecSchema returns the schema of the instance spec in a generated
// CRD (the spec property of its stored version's schema), or nil when the CRD
// has none.
func InstanceSpecSchema(crd *extv1.CustomResourceDefinition) *extv1.JSONSchemaProps {
	if v := StorageVersion(crd); v != nil {
		return versionSpecSchema(v)
	}
	return nil
}

// specOrAny is the version's spec schema; a version without one accepts any
// object.
func specOrAny(v *extv1.CustomResourceDefinitionVersion) *extv1.JSONSchemaProps {
	if s := versionSpecSchema(v); s != nil {
		return s
	}
	return &extv1.JSONSchemaProps{Type: "object"}
}

// versionSpecSchema returns the spec property of a CRD version's schema, or
// nil when it has none.
func versionSpecSchema(v *extv1.CustomResourceDefinitionVersion) *extv1.JSONSchemaProps {
	if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
		return nil
	}
	s, ok := v.Schema.OpenAPIV3Schema.Properties["spec"]
	if !ok {
		return nil
	}
	return &s
}
