package instance

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/ownership"
)

// claim is the answer to "may this instance write this object?".
type claim struct {
	// ok means the object does not exist, is this instance's, or its owner
	// handed it over with the adoption annotation.
	ok bool
	// uid is the object's UID when it exists and is this instance's; the
	// apply then carries it as a precondition, so an object deleted and
	// recreated by someone else in the meantime is not written.
	uid string
	// conflict names the object and its holder when !ok.
	conflict string
}

// claimChild decides whether the instance may write obj. The caller holds
// the object's key lock, so no other worker of this process creates or
// claims the same object between this answer and the apply.
//
// cached is the object as the children cache holds it (nil when it does
// not). The children cache holds only objects labelled as korvid's; an object it
// does not know is looked up on the API server, so one that exists without
// korvid's labels (or that another instance created a moment ago) is never
// taken over.
func (r *reconciler) claimChild(ctx context.Context, obj, cached *unstructured.Unstructured, id ownership.Instance) (claim, error) {
	key := client.ObjectKey{Namespace: obj.GetNamespace(), Name: obj.GetName()}
	if cached != nil {
		if uid, ok := ownership.OwnerOf(cached); ok && uid == id.UID {
			return claim{ok: true, uid: string(cached.GetUID())}, nil
		}
	}
	// Unknown to the cache, or someone else's there: ask the API server.
	m := metadataObject(obj.GroupVersionKind())
	switch err := r.c.reader.Get(ctx, key, m); {
	case apierrors.IsNotFound(err):
		return claim{ok: true}, nil
	case err != nil:
		return claim{}, fmt.Errorf("reading %s %s: %w", obj.GetKind(), objectName(obj), err)
	}
	if uid, ok := ownership.OwnerOf(m); ok {
		if uid == id.UID {
			return claim{ok: true, uid: string(m.GetUID())}, nil
		}
		return claim{conflict: fmt.Sprintf("%s %s already exists and belongs to %s (%s=%s); it is left untouched",
			obj.GetKind(), objectName(obj), holderName(m), v1alpha1.LabelInstanceID, uid)}, nil
	}
	ref := AdoptionRef(id)
	if m.GetAnnotations()[v1alpha1.AnnotationAdopt] == ref {
		return claim{ok: true, uid: string(m.GetUID())}, nil
	}
	return claim{conflict: fmt.Sprintf(
		"%s %s already exists and was not created by korvid; it is left untouched (korvid never takes over an object it did not create; its owner may hand it over by annotating it %s=%s)",
		obj.GetKind(), objectName(obj), v1alpha1.AnnotationAdopt, ref)}, nil
}

// createOnlyVersion is the resourceVersion of a create-only apply: the
// largest int64. Object versions are storage revisions, counters that start
// near zero and grow by one per write (etcd's, and the row ids of SQL
// backends, are int64): no stored object has it.
const createOnlyVersion = "9223372036854775807"

// CreateOnly creates obj when no object of its name exists, in one request
// that can never write an existing object: a server-side apply by korvid's
// field manager carrying a resourceVersion no stored object has. The API
// server wipes the resourceVersion of an object an apply creates, and fails
// an apply to an existing object whose version differs with a conflict,
// writing nothing. Unlike reading the object first and applying when it was
// not found, no object created by someone else in between is taken over.
//
// On success obj holds the API server's answer; otherwise obj is as it was
// and the error is the API server's (a conflict when the object exists).
func CreateOnly(ctx context.Context, w *Writer, obj *unstructured.Unstructured) error {
	obj.SetResourceVersion(createOnlyVersion)
	err := w.Apply(ctx, obj, v1alpha1.FieldManager)
	if err != nil {
		obj.SetResourceVersion("")
	}
	return err
}

// AdoptionRef is the value of the adoption annotation that hands an
// existing object over to instance i: Kind.group/namespace/name (or
// Kind.group/name for a cluster-scoped instance).
func AdoptionRef(i ownership.Instance) string {
	ref := i.GVK.Kind + "." + i.GVK.Group + "/"
	if i.Namespace != "" {
		ref += i.Namespace + "/"
	}
	return ref + i.Name
}

// holderName describes the instance an object is labelled with.
func holderName(m *metav1.PartialObjectMetadata) string {
	l := m.GetLabels()
	name := l[v1alpha1.LabelInstanceName]
	if ns := l[v1alpha1.LabelInstanceNamespace]; ns != "" {
		name = ns + "/" + name
	}
	if kind := l[v1alpha1.LabelInstanceKind]; kind != "" {
		return kind + " " + name
	}
	return "another instance"
}

// reservedKeys lists the labels and annotations of a rendered object that
// only korvid may set (kro.run/, internal.kro.run/ and their subdomains).
// The compiler refuses them written out in a template; a map computed from
// the instance (labels: ${schema.spec.labels}) is caught here, at run time.
func reservedKeys(obj *unstructured.Unstructured) []string {
	var out []string
	for what, m := range map[string]map[string]string{"label": obj.GetLabels(), "annotation": obj.GetAnnotations()} {
		for k := range m {
			if graph.ReservedKey(k) {
				out = append(out, fmt.Sprintf("%s %q", what, k))
			}
		}
	}
	sort.Strings(out)
	return out
}

// reservedKeysMessage explains a rendered object with reserved keys.
func reservedKeysMessage(obj *unstructured.Unstructured, keys []string) string {
	return fmt.Sprintf("%s %s renders %s; the kro.run/ and internal.kro.run/ prefixes are reserved for korvid and the object is not applied",
		obj.GetKind(), objectName(obj), strings.Join(keys, ", "))
}
