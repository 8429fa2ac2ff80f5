package resolver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// snapshot is the embedded form of an API server's built-in kinds: for every
// group/version the kinds it serves, and one shared pool of component
// schemas (definition names are global, e.g. io.k8s.api.apps.v1.Deployment).
type snapshot struct {
	// Source says where the snapshot was taken, e.g. "kube-apiserver v1.37.1".
	Source string `json:"source"`
	// GroupVersions maps "apps/v1" (or "v1" for the core group) to its kinds.
	GroupVersions map[string]map[string]snapshotKind `json:"groupVersions"`
	// Schemas are component schemas with unresolved $refs and no descriptions.
	Schemas map[string]json.RawMessage `json:"schemas"`
}

type snapshotKind struct {
	kindInfo
	// Schema names the kind's definition in snapshot.Schemas.
	Schema string `json:"schema"`
}

// WriteSnapshot reads discovery and the OpenAPI v3 documents of every
// group/version d serves and writes them, gzipped and without descriptions,
// in the form the built-in kinds are embedded in. Kinds without a schema
// (none in a stock kube-apiserver) are left out. source is recorded as the
// snapshot's origin.
func WriteSnapshot(ctx context.Context, d discovery.DiscoveryInterface, source string, w io.Writer) error {
	groups, err := d.ServerGroups()
	if err != nil {
		return fmt.Errorf("listing API groups: %w", err)
	}
	paths, err := openapi.ToClientWithContext(d.OpenAPIV3()).PathsWithContext(ctx)
	if err != nil {
		return fmt.Errorf("listing OpenAPI v3 documents: %w", err)
	}
	snap := snapshot{
		Source:        source,
		GroupVersions: map[string]map[string]snapshotKind{},
		Schemas:       map[string]json.RawMessage{},
	}
	for _, g := range groups.Groups {
		for _, v := range g.Versions {
			gv := schema.GroupVersion{Group: g.Name, Version: v.Version}
			doc, err := fetchGV(ctx, d, gv, paths)
			if err != nil {
				return err
			}
			kinds := map[string]snapshotKind{}
			var roots []string
			for kind, info := range doc.kinds {
				def, ok := doc.defs[kind]
				if !ok {
					continue
				}
				kinds[kind] = snapshotKind{kindInfo: info, Schema: def}
				roots = append(roots, def)
			}
			if len(kinds) == 0 {
				continue
			}
			snap.GroupVersions[gv.String()] = kinds
			if err := addReachable(snap.Schemas, doc.schemas, roots); err != nil {
				return fmt.Errorf("group/version %q: %w", gv, err)
			}
		}
	}
	raw, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("encoding snapshot: %w", err)
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(raw); err != nil {
		return fmt.Errorf("compressing snapshot: %w", err)
	}
	return zw.Close()
}

// addReachable copies into pool, stripped of documentation, every schema of
// doc reachable from roots. A definition already in pool must be identical.
func addReachable(pool map[string]json.RawMessage, doc map[string]*spec.Schema, roots []string) error {
	sort.Strings(roots)
	queue := append([]string(nil), roots...)
	seen := map[string]bool{}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		s, ok := doc[name]
		if !ok || s == nil {
			return fmt.Errorf("definition %q is referenced but not published", name)
		}
		stripped := *s
		refs := stripDocs(&stripped)
		raw, err := json.Marshal(&stripped)
		if err != nil {
			return fmt.Errorf("encoding definition %q: %w", name, err)
		}
		if prev, ok := pool[name]; ok && !bytes.Equal(prev, raw) {
			return fmt.Errorf("definition %q differs between group/versions", name)
		}
		pool[name] = raw
		queue = append(queue, refs...)
	}
	return nil
}

// stripDocs removes descriptions, titles, examples and external docs from s
// and its sub-schemas in place (copying every nested value it changes so the
// source document is untouched) and returns the definitions s refers to.
func stripDocs(s *spec.Schema) []string {
	var refs []string
	var walk func(s *spec.Schema)
	walk = func(s *spec.Schema) {
		if ref := s.Ref.String(); ref != "" {
			refs = append(refs, strings.TrimPrefix(ref, refPrefix))
		}
		s.Description = ""
		s.Title = ""
		s.Example = nil
		s.ExternalDocs = nil
		s.Properties = walkMap(s.Properties, walk)
		s.PatternProperties = walkMap(s.PatternProperties, walk)
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			ap := *s.AdditionalProperties
			sub := *ap.Schema
			walk(&sub)
			ap.Schema = &sub
			s.AdditionalProperties = &ap
		}
		if s.Items != nil {
			items := *s.Items
			if items.Schema != nil {
				sub := *items.Schema
				walk(&sub)
				items.Schema = &sub
			}
			if len(items.Schemas) > 0 {
				items.Schemas = walkSlice(items.Schemas, walk)
			}
			s.Items = &items
		}
		s.AllOf = walkSlice(s.AllOf, walk)
		s.AnyOf = walkSlice(s.AnyOf, walk)
		s.OneOf = walkSlice(s.OneOf, walk)
		if s.Not != nil {
			sub := *s.Not
			walk(&sub)
			s.Not = &sub
		}
	}
	walk(s)
	return refs
}

// walkMap returns a copy of in with walk applied to every schema (in itself
// when it is empty).
func walkMap(in map[string]spec.Schema, walk func(*spec.Schema)) map[string]spec.Schema {
	if len(in) == 0 {
		return in
	}
	out := make(map[string]spec.Schema, len(in))
	for k, p := range in {
		walk(&p)
		out[k] = p
	}
	return out
}

func walkSlice(in []spec.Schema, walk func(*spec.Schema)) []spec.Schema {
	if len(in) == 0 {
		return in
	}
	out := make([]spec.Schema, len(in))
	for i := range in {
		out[i] = in[i]
		walk(&out[i])
	}
	return out
}
