package v1alpha1

import "strings"

// Labels, annotations and names of the kro contract. They are spelled exactly
// as kro spells them, so tooling written for kro recognises korvid's objects.
const (
	LabelOwned             = "kro.run/owned"
	LabelKroVersion        = "kro.run/kro-version"
	LabelRGDID             = "kro.run/resource-graph-definition-id"
	LabelRGDName           = "kro.run/resource-graph-definition-name"
	LabelInstanceID        = "kro.run/instance-id"
	LabelInstanceName      = "kro.run/instance-name"
	LabelInstanceNamespace = "kro.run/instance-namespace"
	LabelInstanceGroup     = "kro.run/instance-group"
	LabelInstanceVersion   = "kro.run/instance-version"
	LabelInstanceKind      = "kro.run/instance-kind"
	LabelNodeID            = "kro.run/node-id"
	LabelCollectionIndex   = "kro.run/collection-index"
	LabelCollectionSize    = "kro.run/collection-size"
	// LabelGraphRevisionHash carries the hash of a GraphRevision's snapshot,
	// for kubectl; the controller compares specs, never this label.
	LabelGraphRevisionHash       = "kro.run/graph-revision-hash"
	LabelManagedBy               = "app.kubernetes.io/managed-by"
	ManagedByValue               = "kro"
	LabelApplySetID              = "applyset.kubernetes.io/id"
	LabelApplySetPartOf          = "applyset.kubernetes.io/part-of"
	AnnotationApplySetTooling    = "applyset.kubernetes.io/tooling"
	AnnotationApplySetGroupKinds = "applyset.kubernetes.io/contains-group-kinds"
	AnnotationApplySetNamespaces = "applyset.kubernetes.io/additional-namespaces"

	// AnnotationAllowBreakingChanges permits a breaking schema update of an RGD.
	AnnotationAllowBreakingChanges = "kro.run/allow-breaking-changes"
	// AnnotationAllowDeleteWithInstances permits deleting an RGD whose kind still has instances.
	AnnotationAllowDeleteWithInstances = "kro.run/allow-delete-with-instances"
	// AnnotationAdopt, set by the owner of an existing object to
	// "Kind.group/namespace/name" of an instance, hands the object over to
	// that instance. Without it korvid never writes an object it did not create.
	AnnotationAdopt = "kro.run/adopt"
	// AnnotationReconcile set to ReconcileSuspended pauses an instance.
	AnnotationReconcile = "kro.run/reconcile"
	ReconcileSuspended  = "suspended"
	// ReconcileDisabled is the legacy spelling of ReconcileSuspended.
	ReconcileDisabled = "disabled"

	// Finalizer guards instances and RGDs until their children are gone.
	Finalizer = "kro.run/finalizer"
	// FieldManager is the server-side apply field manager for children.
	FieldManager = "kro.run/applyset"
	// LabelPrefix is the prefix templates may not use in labels or annotations.
	LabelPrefix = "kro.run/"
	// InternalLabelPrefix is reserved like LabelPrefix.
	InternalLabelPrefix = "internal.kro.run/"
)

// IsReconcileSuspended reports whether the value of the kro.run/reconcile
// annotation pauses reconciliation: "suspended" or the legacy "disabled",
// in any case.
func IsReconcileSuspended(v string) bool {
	v = strings.TrimSpace(v)
	return strings.EqualFold(v, ReconcileSuspended) || strings.EqualFold(v, ReconcileDisabled)
}

// RGD condition types and reasons.
const (
	ConditionReady           = "Ready"
	ConditionGraphAccepted   = "GraphAccepted"
	ConditionKindReady       = "KindReady"
	ConditionControllerReady = "ControllerReady"

	ReasonInvalidResourceGraph = "InvalidResourceGraph"
)

// Instance states and condition types.
const (
	InstanceStateInProgress = "IN_PROGRESS"
	InstanceStateActive     = "ACTIVE"
	InstanceStateDeleting   = "DELETING"
	InstanceStateError      = "ERROR"

	ConditionInstanceManaged = "InstanceManaged"
	ConditionGraphResolved   = "GraphResolved"
	ConditionResourcesReady  = "ResourcesReady"
)
