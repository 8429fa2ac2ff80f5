package v1alpha1

import (
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ResourceScope says whether instances of a generated kind live in a namespace.
// +kubebuilder:validation:Enum=Namespaced;Cluster
type ResourceScope string

const (
	// ResourceScopeNamespaced makes instances namespaced (the default).
	ResourceScopeNamespaced ResourceScope = "Namespaced"
	// ResourceScopeCluster makes instances cluster-scoped.
	ResourceScopeCluster ResourceScope = "Cluster"
)

// ResourceGraphDefinitionState is the summary state of an RGD.
type ResourceGraphDefinitionState string

const (
	// ResourceGraphDefinitionStateActive means the graph compiled, the kind is served and its controller runs.
	ResourceGraphDefinitionStateActive ResourceGraphDefinitionState = "Active"
	// ResourceGraphDefinitionStateInactive means one of those is not (yet) true.
	ResourceGraphDefinitionStateInactive ResourceGraphDefinitionState = "Inactive"
)

// ResourceGraphDefinitionSpec declares a new API and the resources behind it.
type ResourceGraphDefinitionSpec struct {
	// Schema declares the API of the generated kind.
	// +required
	Schema *Schema `json:"schema"`

	// Resources are the nodes of the graph created for every instance.
	// Ids are unique; at most 256.
	// +optional
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=256
	Resources []*Resource `json:"resources,omitempty"`
}

// Schema declares the generated kind: its names, scope and SimpleSchema spec and status.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.group) || (has(self.group) && self.group == oldSelf.group)",message="group is immutable"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.scope) || (has(self.scope) && self.scope == oldSelf.scope)",message="scope is immutable"
type Schema struct {
	// Kind of the generated API, UpperCamelCase.
	// +required
	// +kubebuilder:validation:Pattern=`^[A-Z][a-zA-Z0-9]{0,62}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="kind is immutable"
	Kind string `json:"kind"`

	// APIVersion of the generated API, such as v1alpha1; its only version.
	// +required
	// +kubebuilder:validation:Pattern=`^v[0-9]+(alpha[0-9]+|beta[0-9]+)?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="apiVersion is immutable"
	APIVersion string `json:"apiVersion"`

	// Group of the generated API.
	// +optional
	// +kubebuilder:default=kro.run
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group,omitempty"`

	// Scope of instances of the generated API.
	// +optional
	// +kubebuilder:default=Namespaced
	Scope ResourceScope `json:"scope,omitempty"`

	// Spec is the SimpleSchema of the instance spec.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Spec runtime.RawExtension `json:"spec,omitempty"`

	// Types are named SimpleSchema types that spec and other types may refer to.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Types runtime.RawExtension `json:"types,omitempty"`

	// Status maps instance status fields to ${} expressions; their types are inferred.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Status runtime.RawExtension `json:"status,omitempty"`

	// AdditionalPrinterColumns replace the default printer columns of the generated CRD.
	// +optional
	AdditionalPrinterColumns []extv1.CustomResourceColumnDefinition `json:"additionalPrinterColumns,omitempty"`

	// ShortNames of the generated kind.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	ShortNames []string `json:"shortNames,omitempty"`

	// Categories of the generated kind, such as "all".
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Categories []string `json:"categories,omitempty"`

	// Metadata is copied onto the generated CRD.
	// +optional
	Metadata *CRDMetadata `json:"metadata,omitempty"`
}

// CRDMetadata holds labels and annotations for the generated CRD.
type CRDMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Resource is one node of the graph: a template korvid creates, or a
// reference to an object it only reads.
// +kubebuilder:validation:XValidation:rule="has(self.template) != has(self.externalRef)",message="exactly one of template or externalRef must be set"
type Resource struct {
	// ID names the node in expressions, lowerCamelCase.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-z][a-zA-Z0-9]*$`
	// +kubebuilder:validation:MaxLength=63
	ID string `json:"id"`

	// Template is a Kubernetes object with ${} expressions in its values.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Template runtime.RawExtension `json:"template,omitempty"`

	// ExternalRef reads an object that korvid does not manage.
	// +optional
	ExternalRef *ExternalRef `json:"externalRef,omitempty"`

	// ReadyWhen expressions must all be true before the node counts as ready.
	// +optional
	ReadyWhen []string `json:"readyWhen,omitempty"`

	// IncludeWhen expressions must all be true for the node to be created.
	// +optional
	IncludeWhen []string `json:"includeWhen,omitempty"`

	// ForEach turns the node into a collection: one object per element, or
	// per combination when there are several iterators.
	// +optional
	ForEach []ForEachDimension `json:"forEach,omitempty"`
}

// ForEachDimension maps one iterator name to a ${} expression yielding a list.
// +kubebuilder:validation:MinProperties=1
// +kubebuilder:validation:MaxProperties=1
type ForEachDimension map[string]string

// ExternalRef points at an object by name or by label selector.
type ExternalRef struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	APIVersion string `json:"apiVersion"`
	// +required
	// +kubebuilder:validation:MinLength=1
	Kind string `json:"kind"`
	// +required
	Metadata ExternalRefMetadata `json:"metadata"`
}

// ExternalRefMetadata selects the referenced object(s).
// +kubebuilder:validation:XValidation:rule="has(self.name) != has(self.selector)",message="exactly one of name or selector must be set"
type ExternalRefMetadata struct {
	// Name of the object.
	// +optional
	Name string `json:"name,omitempty"`
	// Namespace of the object; defaults to the instance's namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Selector matches a list of objects by label.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// ResourceGraphDefinitionStatus is the observed state of an RGD.
type ResourceGraphDefinitionStatus struct {
	// State is Active when the graph is accepted, its kind served and its controller running.
	// +optional
	State ResourceGraphDefinitionState `json:"state,omitempty"`

	// TopologicalOrder lists resource ids in creation order.
	// +optional
	TopologicalOrder []string `json:"topologicalOrder,omitempty"`

	// Conditions: Ready, GraphAccepted, KindReady, ControllerReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Resources lists each node with the nodes it depends on.
	// +optional
	Resources []ResourceInformation `json:"resources,omitempty"`

	// LastIssuedRevision is the number of the newest GraphRevision issued
	// for this RGD; revision numbers continue from it.
	// +optional
	LastIssuedRevision int64 `json:"lastIssuedRevision,omitempty"`
}

// ResourceInformation describes one node of the compiled graph.
type ResourceInformation struct {
	ID string `json:"id"`
	// +optional
	Dependencies []Dependency `json:"dependencies,omitempty"`
}

// Dependency names a node another node depends on.
type Dependency struct {
	ID string `json:"id"`
}

// ResourceGraphDefinition declares a new API and the graph of resources that
// implements each of its instances.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=rgd,categories=kro
// +kubebuilder:printcolumn:name="APIVERSION",type=string,JSONPath=`.spec.schema.apiVersion`
// +kubebuilder:printcolumn:name="KIND",type=string,JSONPath=`.spec.schema.kind`
// +kubebuilder:printcolumn:name="STATE",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="TOPOLOGICALORDER",type=string,priority=1,JSONPath=`.status.topologicalOrder`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type ResourceGraphDefinition struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ResourceGraphDefinitionSpec `json:"spec"`
	// +optional
	Status ResourceGraphDefinitionStatus `json:"status,omitempty"`
}

// ResourceGraphDefinitionList is a list of ResourceGraphDefinitions.
//
// +kubebuilder:object:root=true
type ResourceGraphDefinitionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ResourceGraphDefinition `json:"items"`
}
