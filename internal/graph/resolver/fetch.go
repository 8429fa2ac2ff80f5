package resolver

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/korvid/korvid/internal/graph"
)

const (
	refPrefix = "#/components/schemas/"
	extGVK    = "x-kubernetes-group-version-kind"
)

// kindInfo is what discovery says about one kind of a group/version.
type kindInfo struct {
	Resource   string `json:"resource"`
	Namespaced bool   `json:"namespaced"`
}

// gvDoc is everything an API server publishes about one group/version: the
// kinds it serves and the OpenAPI v3 components describing them.
type gvDoc struct {
	gv schema.GroupVersion
	// kinds maps a kind to its resource and scope.
	kinds map[string]kindInfo
	// defs maps a kind to the name of its definition in schemas.
	defs map[string]string
	// schemas are the document's component schemas, refs still unresolved.
	schemas map[string]*spec.Schema
}

// openAPIPath is the key of a group/version in the /openapi/v3 index.
func openAPIPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// fetchResources asks discovery for the top-level resources of gv. A group or
// version that is not served wraps graph.ErrKindNotFound.
func fetchResources(d discovery.DiscoveryInterface, gv schema.GroupVersion) (map[string]kindInfo, error) {
	list, err := d.ServerResourcesForGroupVersion(gv.String())
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("group/version %q is not served: %w", gv, graph.ErrKindNotFound)
		}
		return nil, fmt.Errorf("discovering resources of %q: %w", gv, err)
	}
	return kindsOf(list), nil
}

// kindsOf maps each kind of a resource list to its resource, skipping
// subresources. When two resources serve the same kind, the first wins.
func kindsOf(list *metav1.APIResourceList) map[string]kindInfo {
	kinds := make(map[string]kindInfo, len(list.APIResources))
	for _, r := range list.APIResources {
		if strings.Contains(r.Name, "/") || r.Kind == "" {
			continue
		}
		if _, dup := kinds[r.Kind]; dup {
			continue
		}
		kinds[r.Kind] = kindInfo{Resource: r.Name, Namespaced: r.Namespaced}
	}
	return kinds
}

// fetchOpenAPI downloads and parses the OpenAPI v3 document of gv. paths is
// the /openapi/v3 index; when nil it is fetched.
func fetchOpenAPI(ctx context.Context, d discovery.DiscoveryInterface, gv schema.GroupVersion, paths map[string]openapi.GroupVersionWithContext) (map[string]*spec.Schema, error) {
	if paths == nil {
		var err error
		paths, err = openapi.ToClientWithContext(d.OpenAPIV3()).PathsWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing OpenAPI v3 documents: %w", err)
		}
	}
	doc, ok := paths[openAPIPath(gv)]
	if !ok {
		return nil, fmt.Errorf("no OpenAPI v3 document for group/version %q: %w", gv, graph.ErrKindNotFound)
	}
	raw, err := doc.SchemaWithContext(ctx, "application/json")
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("no OpenAPI v3 document for group/version %q: %w", gv, graph.ErrKindNotFound)
		}
		return nil, fmt.Errorf("fetching OpenAPI v3 document of %q: %w", gv, err)
	}
	var body struct {
		Components struct {
			Schemas map[string]*spec.Schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, fmt.Errorf("decoding OpenAPI v3 document of %q: %w", gv, err)
	}
	return body.Components.Schemas, nil
}

// definitionsByKind maps each kind of gv to the name of the component schema
// that declares it through x-kubernetes-group-version-kind.
func definitionsByKind(gv schema.GroupVersion, schemas map[string]*spec.Schema) map[string]string {
	defs := make(map[string]string)
	for name, s := range schemas {
		if s == nil {
			continue
		}
		var gvks []schema.GroupVersionKind
		if err := s.Extensions.GetObject(extGVK, &gvks); err != nil {
			continue
		}
		for _, gvk := range gvks {
			if gvk.GroupVersion() != gv {
				continue
			}
			// Deterministic choice should two definitions claim a kind.
			if prev, ok := defs[gvk.Kind]; !ok || name < prev {
				defs[gvk.Kind] = name
			}
		}
	}
	return defs
}

// fetchGV fetches discovery and the OpenAPI v3 document of gv.
func fetchGV(ctx context.Context, d discovery.DiscoveryInterface, gv schema.GroupVersion, paths map[string]openapi.GroupVersionWithContext) (*gvDoc, error) {
	kinds, err := fetchResources(d, gv)
	if err != nil {
		return nil, err
	}
	schemas, err := fetchOpenAPI(ctx, d, gv, paths)
	if err != nil {
		return nil, err
	}
	return &gvDoc{gv: gv, kinds: kinds, defs: definitionsByKind(gv, schemas), schemas: schemas}, nil
}
