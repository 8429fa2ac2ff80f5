package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kro "github.com/korvid/korvid/api/v1alpha1"
)

// GraphRevisionState says whether a revision compiled.
// +kubebuilder:validation:Enum=Verified;Failed
type GraphRevisionState string

const (
	// GraphRevisionStateVerified means the snapshot compiled.
	GraphRevisionStateVerified GraphRevisionState = "Verified"
	// GraphRevisionStateFailed means the snapshot did not compile; the
	// Verified condition lists the errors.
	GraphRevisionStateFailed GraphRevisionState = "Failed"
)

// Condition types and reasons of GraphRevisions.
const (
	// ConditionVerified is True when the snapshot compiled.
	ConditionVerified = "Verified"

	ReasonCompiled      = "Compiled"
	ReasonCompileFailed = "CompileFailed"
)

// GraphRevisionSpec identifies the ResourceGraphDefinition a revision was
// taken from and holds the snapshot of its spec. It never changes.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="the spec of a GraphRevision is immutable"
type GraphRevisionSpec struct {
	// ResourceGraphDefinitionName is the name of the RGD.
	// +required
	// +kubebuilder:validation:MinLength=1
	ResourceGraphDefinitionName string `json:"resourceGraphDefinitionName"`

	// ResourceGraphDefinitionUID is the UID of the RGD.
	// +required
	// +kubebuilder:validation:MinLength=1
	ResourceGraphDefinitionUID string `json:"resourceGraphDefinitionUID"`

	// Revision numbers the revisions of one RGD, starting at 1.
	// +required
	// +kubebuilder:validation:Minimum=1
	Revision int64 `json:"revision"`

	// SpecHash is the SHA-256 of the snapshot's JSON encoding; a spec
	// identical to the newest revision's makes no new revision.
	// +required
	// +kubebuilder:validation:MinLength=1
	SpecHash string `json:"specHash"`

	// Snapshot is the RGD spec this revision was taken from.
	// +required
	Snapshot kro.ResourceGraphDefinitionSpec `json:"snapshot"`
}

// GraphRevisionStatus is the outcome of compiling the snapshot.
type GraphRevisionStatus struct {
	// State is Verified or Failed.
	// +optional
	State GraphRevisionState `json:"state,omitempty"`

	// TopologicalOrder is the creation order of the compiled graph's resources.
	// +optional
	// +listType=atomic
	TopologicalOrder []string `json:"topologicalOrder,omitempty"`

	// Conditions: Verified.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// GraphRevision is an immutable snapshot of a ResourceGraphDefinition's spec,
// compiled on its own. Instances follow the newest revision that compiled.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=gr
// +kubebuilder:printcolumn:name="RGD",type=string,JSONPath=`.spec.resourceGraphDefinitionName`
// +kubebuilder:printcolumn:name="REVISION",type=integer,JSONPath=`.spec.revision`
// +kubebuilder:printcolumn:name="STATE",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type GraphRevision struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec GraphRevisionSpec `json:"spec"`
	// +optional
	Status GraphRevisionStatus `json:"status,omitempty"`
}

// GraphRevisionList is a list of GraphRevisions.
// +kubebuilder:object:root=true
type GraphRevisionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GraphRevision `json:"items"`
}
