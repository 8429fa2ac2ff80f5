package rgdtest

import (
	"strings"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CRD returns a namespaced CustomResourceDefinition of kind in group,
// served and stored at version with the given spec fields: the kind a test
// templates in an RGD or lets another owner hold. Its plural is the kind in
// lower case with an "s".
func CRD(group, version, kind string, spec map[string]extv1.JSONSchemaProps) *extv1.CustomResourceDefinition {
	singular := strings.ToLower(kind)
	plural := singular + "s"
	return &extv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + group},
		Spec: extv1.CustomResourceDefinitionSpec{
			Group: group,
			Names: extv1.CustomResourceDefinitionNames{Kind: kind, ListKind: kind + "List", Plural: plural, Singular: singular},
			Scope: extv1.NamespaceScoped,
			Versions: []extv1.CustomResourceDefinitionVersion{{
				Name: version, Served: true, Storage: true,
				Schema: &extv1.CustomResourceValidation{OpenAPIV3Schema: &extv1.JSONSchemaProps{
					Type:       "object",
					Properties: map[string]extv1.JSONSchemaProps{"spec": {Type: "object", Properties: spec}},
				}},
			}},
		},
	}
}
