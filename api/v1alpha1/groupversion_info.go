// Package v1alpha1 holds the kro.run/v1alpha1 API served by korvid: the
// ResourceGraphDefinition, which declares a new custom API and the graph of
// resources that backs each of its instances.
//
// +kubebuilder:object:generate=true
// +groupName=kro.run
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const (
	// Group is the API group of ResourceGraphDefinitions and the default group of generated kinds.
	Group = "kro.run"
	// Version is the API version of ResourceGraphDefinitions.
	Version = "v1alpha1"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

	// SchemeBuilder registers the types of this package.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers the kinds of this package. API packages depend only
// on apimachinery, so any client can import them.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ResourceGraphDefinition{}, &ResourceGraphDefinitionList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
