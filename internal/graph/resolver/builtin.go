package resolver

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	celresolver "k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/korvid/korvid/internal/graph"
)

// builtinSnapshot is the discovery and OpenAPI v3 of a stock kube-apiserver,
// written by WriteSnapshot (see hack/snapshot-openapi).
//
//go:embed builtin/openapi.json.gz
var builtinSnapshot []byte

const objectMetaDefinition = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

// builtinKinds serves the kinds of an embedded snapshot. Definitions are
// decoded on first use and resolved kinds are kept, so each kind is resolved
// once per process.
type builtinKinds struct {
	source string
	kinds  map[schema.GroupVersionKind]snapshotKind
	// versions lists the versions serving each group/kind, for error messages.
	versions map[schema.GroupKind][]string
	raw      map[string]json.RawMessage

	mu       sync.Mutex
	parsed   map[string]*spec.Schema
	resolved map[schema.GroupVersionKind]*graph.ResolvedKind
}

var loadBuiltin = sync.OnceValues(func() (*builtinKinds, error) {
	return decodeSnapshot(builtinSnapshot)
})

func decodeSnapshot(data []byte) (*builtinKinds, error) {
	if len(data) == 0 {
		return nil, errors.New("the built-in kind snapshot is empty; regenerate it with go run ./hack/snapshot-openapi")
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading built-in kind snapshot: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("reading built-in kind snapshot: %w", err)
	}
	var snap snapshot
	if err := json.Unmarshal(raw, &snap); err != nil {
		return nil, fmt.Errorf("decoding built-in kind snapshot: %w", err)
	}
	b := &builtinKinds{
		source:   snap.Source,
		kinds:    map[schema.GroupVersionKind]snapshotKind{},
		versions: map[schema.GroupKind][]string{},
		raw:      snap.Schemas,
		parsed:   map[string]*spec.Schema{},
		resolved: map[schema.GroupVersionKind]*graph.ResolvedKind{},
	}
	for gvs, kinds := range snap.GroupVersions {
		gv, err := schema.ParseGroupVersion(gvs)
		if err != nil {
			return nil, fmt.Errorf("built-in kind snapshot: %w", err)
		}
		for kind, k := range kinds {
			gvk := gv.WithKind(kind)
			b.kinds[gvk] = k
			b.versions[gvk.GroupKind()] = append(b.versions[gvk.GroupKind()], gv.Version)
		}
	}
	return b, nil
}

// definition returns a decoded component schema; callers hold b.mu.
func (b *builtinKinds) definition(ref string) (*spec.Schema, bool) {
	name := strings.TrimPrefix(ref, refPrefix)
	if s, ok := b.parsed[name]; ok {
		return s, true
	}
	raw, ok := b.raw[name]
	if !ok {
		return nil, false
	}
	s := new(spec.Schema)
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, false
	}
	b.parsed[name] = s
	return s, true
}

// resolveDefinition returns a definition with every $ref inlined.
func (b *builtinKinds) resolveDefinition(name string) (*spec.Schema, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return celresolver.PopulateRefs(b.definition, refPrefix+name)
}

// lookup returns a built-in kind, or nil when the snapshot has no such kind.
func (b *builtinKinds) lookup(gvk schema.GroupVersionKind) (*graph.ResolvedKind, error) {
	k, ok := b.kinds[gvk]
	if !ok {
		return nil, nil
	}
	b.mu.Lock()
	if rk, ok := b.resolved[gvk]; ok {
		b.mu.Unlock()
		return rk, nil
	}
	s, err := celresolver.PopulateRefs(b.definition, refPrefix+k.Schema)
	if err != nil {
		b.mu.Unlock()
		return nil, fmt.Errorf("resolving the schema of built-in kind %s: %w", gvk, err)
	}
	rk := &graph.ResolvedKind{GVK: gvk, Resource: k.Resource, Namespaced: k.Namespaced, Schema: s}
	b.resolved[gvk] = rk
	b.mu.Unlock()
	return rk, nil
}

// objectMeta is the resolved schema of ObjectMeta, shared by every CRD kind.
var objectMeta = sync.OnceValues(func() (*spec.Schema, error) {
	b, err := loadBuiltin()
	if err != nil {
		return nil, err
	}
	return b.resolveDefinition(objectMetaDefinition)
})
