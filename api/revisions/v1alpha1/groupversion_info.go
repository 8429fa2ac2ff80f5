// Package v1alpha1 holds the internal.kro.run/v1alpha1 API: GraphRevisions,
// the immutable, separately compiled snapshots of a ResourceGraphDefinition's
// spec that the controller keeps per spec change and that instances follow.
//
// +kubebuilder:object:generate=true
// +groupName=internal.kro.run
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const (
	// Group is the API group of GraphRevisions.
	Group = "internal.kro.run"
	// Version is the API version of GraphRevisions.
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
	s.AddKnownTypes(GroupVersion, &GraphRevision{}, &GraphRevisionList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
