// Package v1alpha1 holds the internal.kro.run/v1alpha1 API: GraphRevisions,
// the immutable, separately compiled snapshots of a ResourceGraphDefinition's
// spec that the controller keeps per spec change and that instances follow.
//
// +kubebuilder:object:generate=true
// +groupName=internal.kro.run
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/korvid/korvid/api/internal/apischeme"
)

var (
	// GroupVersion is the group and version of GraphRevisions.
	GroupVersion = schema.GroupVersion{Group: "internal.kro.run", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package.
	SchemeBuilder = apischeme.Builder(GroupVersion, &GraphRevision{}, &GraphRevisionList{})

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
