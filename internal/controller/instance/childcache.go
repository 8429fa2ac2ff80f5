package instance

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Children of built-in kinds (Deployments, ConfigMaps, Services, ...) are
// most of what the controller caches and decodes. The children cache keeps
// them as their Go types, which client-go reads as protobuf: a fraction of
// the memory of unstructured maps and of the CPU of decoding JSON. A read
// converts the typed object to the unstructured form CEL and the drift check
// use; the API server writes its JSON from the same Go types, so both forms
// agree, as long as the types know every field the server serves. A server
// newer than the API types korvid was built with may serve fields they lack
// (a template could set one, an expression read one), so against such a
// server every kind stays unstructured. Custom resources are always
// unstructured.

// typedChildren reports whether children of built-in kinds are cached typed;
// it is decided once, before the first child informer starts, and holds for
// the life of the process (every informer of a kind must agree).
func (c *Controllers) typedChildren() bool {
	c.typedOnce.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfigAndClient(c.mgr.GetConfig(), c.mgr.GetHTTPClient())
		if err != nil {
			return
		}
		info, err := dc.ServerVersion()
		if err != nil {
			c.mgr.GetLogger().Info("Caching built-in child kinds unstructured: the server version is unknown", "error", err.Error())
			return
		}
		served, ok := parseMinor(info.Major, info.Minor)
		c.typed = ok && served <= builtAPIMinor
		if !c.typed {
			c.mgr.GetLogger().Info("Caching built-in child kinds unstructured: the server is newer than korvid's API types",
				"server", info.GitVersion, "types", fmt.Sprintf("1.%d", builtAPIMinor))
		}
	})
	return c.typed
}

// builtAPIMinor is the Kubernetes minor version of the k8s.io/api module
// korvid is built with (v0.37.x is Kubernetes 1.37);
// TestBuiltAPIMinorMatchesGoMod keeps it in step with go.mod.
const builtAPIMinor = 37

// parseMinor reads a server's minor version ("37", or "37+" on some
// distributions) of major version 1.
func parseMinor(major, minor string) (int, bool) {
	if major != "1" {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimRight(minor, "+"))
	return n, err == nil
}

// typedKind reports whether the children cache keeps gvk's objects typed.
func (c *Controllers) typedKind(gvk schema.GroupVersionKind) bool {
	return clientgoscheme.Scheme.Recognizes(gvk) && c.mgr.GetScheme().Recognizes(gvk) && c.typedChildren()
}

// childObject is an empty object of a child kind, as the children cache
// keeps it.
func (c *Controllers) childObject(gvk schema.GroupVersionKind) client.Object {
	if c.typedKind(gvk) {
		if o, err := c.mgr.GetScheme().New(gvk); err == nil {
			if co, ok := o.(client.Object); ok {
				return co
			}
		}
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

// childList is an empty list of a child kind, as the children cache keeps it.
func (c *Controllers) childList(gvk schema.GroupVersionKind) client.ObjectList {
	lk := gvk.GroupVersion().WithKind(gvk.Kind + "List")
	if c.typedKind(gvk) {
		if o, err := c.mgr.GetScheme().New(lk); err == nil {
			if l, ok := o.(client.ObjectList); ok {
				return l
			}
		}
	}
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(lk)
	return l
}

// getChild reads a child of kind gvk from the children cache, in its
// unstructured form.
func (c *Controllers) getChild(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (*unstructured.Unstructured, error) {
	obj := c.childObject(gvk)
	if err := c.children.Get(ctx, key, obj); err != nil {
		return nil, err
	}
	return asUnstructured(gvk, obj)
}

// asUnstructured converts a cached child to its unstructured form.
func asUnstructured(gvk schema.GroupVersionKind, obj runtime.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %s: %w", gvk.Kind, err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// eachChild calls f with the metadata of every item of a list read from the
// children cache.
func eachChild(list client.ObjectList, f func(client.Object)) error {
	return meta.EachListItem(list, func(o runtime.Object) error {
		if co, ok := o.(client.Object); ok {
			f(co)
		}
		return nil
	})
}
