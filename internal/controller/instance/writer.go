package instance

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/apply"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	kjson "sigs.k8s.io/json"
)

// Writer sends the controller's writes of children and instances: forced
// server-side applies and status patches, the requests of nearly every
// reconcile. Each kind gets a REST client as controller-runtime's client
// builds one (JSON, the manager's HTTP client, a rate limiter of the
// configured QPS per kind), and the answer is decoded in one pass into the
// object that was sent.
//
// controller-runtime's client decodes the same answer three times over:
// client-go first reads its apiVersion and kind with encoding/json (a full
// pass over the document), then sigs.k8s.io/json scans it again to hand it
// to Unstructured.UnmarshalJSON, which finally decodes it. That was 9% of
// the controller's CPU at N=1000, for an answer whose kind is known.
type Writer struct {
	cfg    *rest.Config
	http   *http.Client
	mapper meta.RESTMapper

	mu       sync.Mutex
	clients  map[schema.GroupVersionKind]rest.Interface
	mappings map[schema.GroupVersionKind]kindMapping
}

// kindMapping is the resource of a kind and whether it is namespaced. It is
// looked up once per kind: controller-runtime's mapper asks every API
// group's mapper in turn, building a no-match error for each, and that
// lookup on every write was 3.4% of the controller's CPU at N=1000. A
// write answered 404 forgets it (a CRD deleted and created again may have
// another plural or scope), so the next write of the kind looks it up again.
type kindMapping struct {
	resource   string
	namespaced bool
}

// NewWriter returns a Writer sending its requests with cfg's identity and
// limits through httpClient, resolving kinds with mapper.
func NewWriter(cfg *rest.Config, httpClient *http.Client, mapper meta.RESTMapper) *Writer {
	return &Writer{cfg: cfg, http: httpClient, mapper: mapper,
		clients: map[schema.GroupVersionKind]rest.Interface{}, mappings: map[schema.GroupVersionKind]kindMapping{}}
}

// Apply applies obj with server-side apply as fieldManager, forcing
// conflicts, with obj's resourceVersion and UID (when set) as
// preconditions. On success obj holds the API server's answer; on failure
// obj is unchanged and the error is the API server's.
func (w *Writer) Apply(ctx context.Context, obj *unstructured.Unstructured, fieldManager string) error {
	req, err := w.request(obj)
	if err != nil {
		return err
	}
	patch, err := apply.NewRequest(req.rc, obj.Object)
	if err != nil {
		return err
	}
	return w.answered(req.target(patch).Param("fieldManager", fieldManager).Param("force", "true").Do(ctx), obj)
}

// PatchStatus sends patch, of type pt, to the status of the object named by
// obj's kind, namespace and name. On success obj holds the API server's
// answer (the whole object); on failure obj is unchanged.
func (w *Writer) PatchStatus(ctx context.Context, obj *unstructured.Unstructured, pt types.PatchType, patch []byte) error {
	req, err := w.request(obj)
	if err != nil {
		return err
	}
	return w.answered(req.target(req.rc.Patch(pt).Body(patch)).SubResource("status").Do(ctx), obj)
}

// answered decodes a write's answer into obj; a 404 makes the Writer look
// the kind up again on its next write.
func (w *Writer) answered(res rest.Result, obj *unstructured.Unstructured) error {
	err := decodeAnswer(res, obj)
	if apierrors.IsNotFound(err) {
		w.mu.Lock()
		delete(w.mappings, obj.GroupVersionKind())
		w.mu.Unlock()
	}
	return err
}

// decodeAnswer decodes a write's answer into obj.
func decodeAnswer(res rest.Result, obj *unstructured.Unstructured) error {
	// Error, not Raw's error: it decodes the API server's Status (reason,
	// message, causes) where Raw gives a generic error of the HTTP code.
	if err := res.Error(); err != nil {
		return err
	}
	raw, _ := res.Raw()
	var m map[string]any
	// Integers stay int64, as client-go's unstructured decoding keeps them.
	if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &m); err != nil {
		return fmt.Errorf("decoding the answer for %s %s: %w", obj.GetKind(), objectName(obj), err)
	}
	obj.Object = m
	return nil
}

// writeRequest is where a write of one object goes.
type writeRequest struct {
	rc         rest.Interface
	namespaced bool
	resource   string
	namespace  string
	name       string
}

// target points req at the object and asks for a JSON answer, the one
// decodeAnswer reads, even when client-go's CBOR feature gates would
// accept CBOR.
func (r writeRequest) target(req *rest.Request) *rest.Request {
	return req.NamespaceIfScoped(r.namespace, r.namespaced).Resource(r.resource).Name(r.name).
		SetHeader("Accept", "application/json")
}

func (w *Writer) request(obj *unstructured.Unstructured) (writeRequest, error) {
	gvk := obj.GroupVersionKind()
	m, err := w.mapping(gvk)
	if err != nil {
		return writeRequest{}, err
	}
	rc, err := w.client(gvk)
	if err != nil {
		return writeRequest{}, err
	}
	return writeRequest{rc: rc, namespaced: m.namespaced, resource: m.resource, namespace: obj.GetNamespace(), name: obj.GetName()}, nil
}

func (w *Writer) mapping(gvk schema.GroupVersionKind) (kindMapping, error) {
	w.mu.Lock()
	m, ok := w.mappings[gvk]
	w.mu.Unlock()
	if ok {
		return m, nil
	}
	rm, err := w.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return kindMapping{}, err
	}
	m = kindMapping{resource: rm.Resource.Resource, namespaced: rm.Scope.Name() == meta.RESTScopeNameNamespace}
	w.mu.Lock()
	w.mappings[gvk] = m
	w.mu.Unlock()
	return m, nil
}

// noCodecs stands for the typed codecs RESTClientForGVK takes, which an
// unstructured client does not use.
var noCodecs = serializer.CodecFactory{}

func (w *Writer) client(gvk schema.GroupVersionKind) (rest.Interface, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if rc, ok := w.clients[gvk]; ok {
		return rc, nil
	}
	rc, err := apiutil.RESTClientForGVK(gvk, true, true, w.cfg, noCodecs, w.http)
	if err != nil {
		return nil, fmt.Errorf("building the client for %s: %w", gvk, err)
	}
	w.clients[gvk] = rc
	return rc, nil
}
