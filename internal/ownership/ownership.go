// Package ownership computes the labels and annotations that mark instances
// and their children as korvid's (the kro contract, §5), and answers whether
// an object belongs to a given instance. The controller writes them, the
// webhook stamps instance labels at admission, and deletion trusts nothing
// else: an object without these labels is never deleted.
package ownership

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/version"
)

// Instance identifies an instance of a generated kind.
type Instance struct {
	GVK       schema.GroupVersionKind
	Name      string
	Namespace string // empty for cluster-scoped instances
	UID       string
}

// InstanceOf returns the identity of an instance object.
func InstanceOf(u *unstructured.Unstructured) Instance {
	return Instance{GVK: u.GroupVersionKind(), Name: u.GetName(), Namespace: u.GetNamespace(), UID: string(u.GetUID())}
}

// ApplySetID is the KEP-3659 ApplySet id of the instance, the value of
// applyset.kubernetes.io/id on the instance and applyset.kubernetes.io/part-of
// on its children: "applyset-" + base64url(sha256(name.namespace.kind.group)) + "-v1".
func (i Instance) ApplySetID() string {
	sum := sha256.Sum256([]byte(strings.Join([]string{i.Name, i.Namespace, i.GVK.Kind, i.GVK.Group}, ".")))
	return "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
}

// InstanceLabels are the labels korvid puts on an instance of the RGD.
func InstanceLabels(i Instance, rgdName, rgdUID string) map[string]string {
	return map[string]string{
		v1alpha1.LabelOwned:      "true",
		v1alpha1.LabelKroVersion: version.Version,
		v1alpha1.LabelRGDID:      rgdUID,
		v1alpha1.LabelRGDName:    rgdName,
		v1alpha1.LabelApplySetID: i.ApplySetID(),
	}
}

// ChildLabels are the labels of a child object of the instance created for node id.
func ChildLabels(i Instance, nodeID string) map[string]string {
	l := map[string]string{
		v1alpha1.LabelOwned:           "true",
		v1alpha1.LabelKroVersion:      version.Version,
		v1alpha1.LabelInstanceID:      i.UID,
		v1alpha1.LabelInstanceName:    i.Name,
		v1alpha1.LabelInstanceGroup:   i.GVK.Group,
		v1alpha1.LabelInstanceVersion: i.GVK.Version,
		v1alpha1.LabelInstanceKind:    i.GVK.Kind,
		v1alpha1.LabelNodeID:          nodeID,
		v1alpha1.LabelManagedBy:       v1alpha1.ManagedByValue,
		v1alpha1.LabelApplySetPartOf:  i.ApplySetID(),
	}
	if i.Namespace != "" {
		l[v1alpha1.LabelInstanceNamespace] = i.Namespace
	}
	return l
}

// CollectionLabels are added to the i-th of n objects of a collection node.
func CollectionLabels(index, size int) map[string]string {
	return map[string]string{
		v1alpha1.LabelCollectionIndex: strconv.Itoa(index),
		v1alpha1.LabelCollectionSize:  strconv.Itoa(size),
	}
}

// ChildSelector returns the labels every child of the instance carries, for
// listing its inventory: the instance UID and the ApplySet it is part of.
func ChildSelector(i Instance) map[string]string {
	return map[string]string{
		v1alpha1.LabelOwned:          "true",
		v1alpha1.LabelInstanceID:     i.UID,
		v1alpha1.LabelApplySetPartOf: i.ApplySetID(),
	}
}

// OwnedBy reports whether obj carries the ownership labels of instance i.
// Deletion and pruning act only on objects for which this is true.
func OwnedBy(obj interface{ GetLabels() map[string]string }, i Instance) bool {
	return labels.SelectorFromValidatedSet(ChildSelector(i)).Matches(labels.Set(obj.GetLabels()))
}

// OwnerOf returns the instance UID an object is labelled with, if any.
func OwnerOf(obj interface{ GetLabels() map[string]string }) (uid string, ok bool) {
	l := obj.GetLabels()
	if l[v1alpha1.LabelOwned] != "true" {
		return "", false
	}
	uid, ok = l[v1alpha1.LabelInstanceID]
	return uid, ok && uid != ""
}
