package graph

import (
	"testing"

	"github.com/stretchr/testify/assert"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/korvid/korvid/internal/graph/schemadiff"
)

// TestBreakingChanges: the one check the webhook, the controller and the CLI
// share compares the stored versions, names a renamed version, and reads a
// version without a spec schema as accepting any object.
func TestBreakingChanges(t *testing.T) {
	version := func(name string, spec *extv1.JSONSchemaProps) extv1.CustomResourceDefinitionVersion {
		v := extv1.CustomResourceDefinitionVersion{Name: name, Storage: true}
		if spec != nil {
			v.Schema = &extv1.CustomResourceValidation{OpenAPIV3Schema: &extv1.JSONSchemaProps{
				Type: "object", Properties: map[string]extv1.JSONSchemaProps{"spec": *spec},
			}}
		}
		return v
	}
	crd := func(versions ...extv1.CustomResourceDefinitionVersion) *extv1.CustomResourceDefinition {
		return &extv1.CustomResourceDefinition{Spec: extv1.CustomResourceDefinitionSpec{Versions: versions}}
	}
	sized := func(typ string) *extv1.JSONSchemaProps {
		return &extv1.JSONSchemaProps{Type: "object", Required: []string{"size"}, Properties: map[string]extv1.JSONSchemaProps{"size": {Type: typ}}}
	}

	assert.Empty(t, BreakingChanges(crd(version("v1", sized("string"))), crd(version("v1", sized("string")))))
	assert.Empty(t, BreakingChanges(crd(), crd(version("v1", sized("string")))), "no stored version: nothing to compare")

	got := BreakingChanges(crd(version("v1", sized("string"))), crd(version("v2", sized("integer"))))
	if assert.Len(t, got, 2) {
		assert.Equal(t, schemadiff.Change{Path: "apiVersion", Description: "version renamed from v1 to v2"}, got[0])
		assert.Equal(t, "spec.size", got[1].Path)
	}

	served := version("v1", sized("string"))
	unserved := version("v0", nil)
	unserved.Storage = false
	assert.Empty(t, BreakingChanges(crd(unserved, served), crd(version("v1", sized("string")))), "the stored version is compared, not the first")

	got = BreakingChanges(crd(version("v1", nil)), crd(version("v1", sized("string"))))
	assert.NotEmpty(t, got, "a version without a spec schema accepted any object; a required field breaks that")
}
