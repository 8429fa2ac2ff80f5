package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kro "github.com/korvid/korvid/api/v1alpha1"
)

// Condition types and reasons of GraphRevisions, spelled as kro
// spells them so that revisions kro wrote are read and continued.
const (
	// ConditionGraphVerified is True when the snapshot compiled.
	ConditionGraphVerified = "GraphVerified"
	// ConditionReady summarises GraphVerified.
	ConditionReady = "Ready"

	ReasonVerified     = "Verified"
	ReasonInvalidGraph = "InvalidGraph"
	MessageVerified    = "graph revision compiled and verified"
)

// GraphRevision is an immutable snapshot of a ResourceGraphDefinition's spec,
// compiled on its own. Instances follow the newest revision that compiled.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=gr
// +kubebuilder:printcolumn:name="RGD",type=string,JSONPath=`.spec.snapshot.name`
// +kubebuilder:printcolumn:name="REVISION",type=integer,JSONPath=`.spec.revision`
// +kubebuilder:printcolumn:name="HASH",type=string,priority=1,JSONPath=`.metadata.labels.kro\.run/graph-revision-hash`
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type GraphRevision struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable"
	Spec GraphRevisionSpec `json:"spec"`
	// +optional
	Status GraphRevisionStatus `json:"status,omitempty"`
}

// Verified reports whether the revision's snapshot compiled.
func (r *GraphRevision) Verified() bool {
	return meta.IsStatusConditionTrue(r.Status.Conditions, ConditionGraphVerified)
}

// GraphRevisionList is a list of GraphRevisions.
// +kubebuilder:object:root=true
type GraphRevisionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GraphRevision `json:"items"`
}

// GraphRevisionSpec numbers a revision and holds the snapshot it was issued
// from. It never changes.
type GraphRevisionSpec struct {
	// Revision numbers the revisions of one ResourceGraphDefinition,
	// starting at 1 and never reused while the RGD exists.
	// +required
	// +kubebuilder:validation:Minimum=1
	Revision int64 `json:"revision"`

	// Snapshot is the identity and spec of the ResourceGraphDefinition when
	// this revision was issued.
	// +required
	Snapshot ResourceGraphDefinitionSnapshot `json:"snapshot"`
}

// ResourceGraphDefinitionSnapshot is a ResourceGraphDefinition's name,
// generation and spec at one point in time.
type ResourceGraphDefinitionSnapshot struct {
	// Name is the name of the ResourceGraphDefinition.
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`

	// Generation is the RGD's metadata.generation when the revision was
	// issued (informational).
	// +required
	Generation int64 `json:"generation"`

	// Spec is a copy of the RGD's spec.
	// +required
	Spec kro.ResourceGraphDefinitionSpec `json:"spec"`
}

// GraphRevisionStatus is the outcome of compiling the snapshot.
type GraphRevisionStatus struct {
	// TopologicalOrder is the creation order of the compiled graph's resources.
	// +optional
	// +listType=atomic
	TopologicalOrder []string `json:"topologicalOrder,omitempty"`

	// Conditions: GraphVerified and Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Resources lists each node of the compiled graph with its dependencies.
	// +optional
	Resources []kro.ResourceInformation `json:"resources,omitempty"`
}
