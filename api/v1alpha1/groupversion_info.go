// Package v1alpha1 holds the kro.run/v1alpha1 API served by korvid: the
// ResourceGraphDefinition, which declares a new custom API and the graph of
// resources that backs each of its instances.
//
// +kubebuilder:object:generate=true
// +groupName=kro.run
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/korvid/korvid/api/internal/apischeme"
)

var (
	// GroupVersion is the group and version of ResourceGraphDefinitions and the default group of generated kinds.
	GroupVersion = schema.GroupVersion{Group: "kro.run", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package.
	SchemeBuilder = apischeme.Builder(GroupVersion, &ResourceGraphDefinition{}, &ResourceGraphDefinitionList{})

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
