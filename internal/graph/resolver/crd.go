package resolver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/internal/graph"
)

// crdKinds returns one resolved kind per served version of crd, with the
// schema the API server would publish for it: the version's openAPIV3Schema
// plus apiVersion, kind and the full ObjectMeta under metadata.
func crdKinds(crd *extv1.CustomResourceDefinition) ([]*graph.ResolvedKind, error) {
	if crd == nil {
		return nil, errors.New("nil CustomResourceDefinition")
	}
	name := crd.Name
	if crd.Spec.Group == "" || crd.Spec.Names.Kind == "" || crd.Spec.Names.Plural == "" {
		return nil, fmt.Errorf("CustomResourceDefinition %q: spec.group, spec.names.kind and spec.names.plural must be set", name)
	}
	var namespaced bool
	switch crd.Spec.Scope {
	case extv1.NamespaceScoped:
		namespaced = true
	case extv1.ClusterScoped:
	default:
		return nil, fmt.Errorf("CustomResourceDefinition %q: spec.scope must be Namespaced or Cluster, found %q", name, crd.Spec.Scope)
	}
	meta, err := objectMeta()
	if err != nil {
		return nil, err
	}
	var kinds []*graph.ResolvedKind
	for i, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		if v.Name == "" {
			return nil, fmt.Errorf("CustomResourceDefinition %q: spec.versions[%d].name must be set", name, i)
		}
		s, err := crdVersionSchema(v.Schema, meta)
		if err != nil {
			return nil, fmt.Errorf("CustomResourceDefinition %q: spec.versions[%d].schema.openAPIV3Schema: %w", name, i, err)
		}
		kinds = append(kinds, &graph.ResolvedKind{
			GVK:        schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind},
			Resource:   crd.Spec.Names.Plural,
			Namespaced: namespaced,
			Schema:     s,
		})
	}
	if len(kinds) == 0 {
		return nil, fmt.Errorf("CustomResourceDefinition %q serves no version", name)
	}
	return kinds, nil
}

// crdVersionSchema converts a CRD version's schema to the schema the API
// server publishes: structural, unfolded, with type and object metadata.
func crdVersionSchema(v *extv1.CustomResourceValidation, meta *spec.Schema) (*spec.Schema, error) {
	var s *spec.Schema
	if v != nil && v.OpenAPIV3Schema != nil {
		internal := &apiextensions.JSONSchemaProps{}
		if err := extv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.OpenAPIV3Schema, internal, nil); err != nil {
			return nil, fmt.Errorf("converting: %w", err)
		}
		ss, err := structuralschema.NewStructural(internal)
		if err != nil {
			return nil, fmt.Errorf("not a structural schema: %w", err)
		}
		if errs := structuralschema.ValidateStructural(nil, ss); len(errs) > 0 {
			return nil, fmt.Errorf("not a structural schema: %w", errs.ToAggregate())
		}
		s = ss.Unfold().ToKubeOpenAPI()
	}
	if s == nil {
		s = &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}}}
	}
	// Embedded resources first: the root's metadata is the shared ObjectMeta
	// schema, which must not be walked (let alone written to).
	addEmbeddedProperties(s, meta)
	addObjectProperties(s, meta)
	return s, nil
}

// addObjectProperties sets apiVersion, kind and metadata the way the API
// server does for a kind's root schema and for embedded resources.
func addObjectProperties(s *spec.Schema, meta *spec.Schema) {
	s.SetProperty("apiVersion", spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}}})
	s.SetProperty("kind", spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}}})
	s.SetProperty("metadata", *meta)
}

// addEmbeddedProperties adds object properties to every sub-schema of s marked
// x-kubernetes-embedded-resource. Children are handled before their parent
// gains the shared metadata schema, so that schema is never walked.
func addEmbeddedProperties(s *spec.Schema, meta *spec.Schema) {
	for k, p := range s.Properties {
		addEmbeddedProperties(&p, meta)
		s.Properties[k] = p
	}
	if s.Items != nil && s.Items.Schema != nil {
		addEmbeddedProperties(s.Items.Schema, meta)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		addEmbeddedProperties(s.AdditionalProperties.Schema, meta)
	}
	if embedded, ok := s.Extensions.GetBool("x-kubernetes-embedded-resource"); ok && embedded {
		addObjectProperties(s, meta)
	}
}

// ReadCRDs decodes every CustomResourceDefinition in a stream of YAML or JSON
// documents (separated by ---; a v1 List is opened). Documents of other kinds
// are skipped; apiextensions.k8s.io/v1beta1 CRDs are an error.
func ReadCRDs(r io.Reader) ([]*extv1.CustomResourceDefinition, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var crds []*extv1.CustomResourceDefinition
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return crds, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		found, err := decodeCRDs(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		crds = append(crds, found...)
	}
}

func decodeCRDs(doc []byte) ([]*extv1.CustomResourceDefinition, error) {
	doc = bytes.TrimSpace(doc)
	if len(doc) == 0 {
		return nil, nil
	}
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(js, []byte("null")) {
		return nil, nil // only comments
	}
	var head struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, fmt.Errorf("not a Kubernetes object: %w", err)
	}
	switch {
	case head.Kind == "List" || strings.HasSuffix(head.Kind, "List") && head.Items != nil:
		var crds []*extv1.CustomResourceDefinition
		for j, item := range head.Items {
			found, err := decodeCRDs(item)
			if err != nil {
				return nil, fmt.Errorf("items[%d]: %w", j, err)
			}
			crds = append(crds, found...)
		}
		return crds, nil
	case head.Kind != "CustomResourceDefinition":
		return nil, nil
	case head.APIVersion != extv1.SchemeGroupVersion.String():
		return nil, fmt.Errorf("CustomResourceDefinition of apiVersion %q is not supported, expected %s", head.APIVersion, extv1.SchemeGroupVersion)
	}
	crd := &extv1.CustomResourceDefinition{}
	if err := json.Unmarshal(js, crd); err != nil {
		return nil, fmt.Errorf("decoding CustomResourceDefinition: %w", err)
	}
	return []*extv1.CustomResourceDefinition{crd}, nil
}

// ReadCRDFiles reads the CustomResourceDefinitions of files and directories;
// a directory contributes its *.yaml, *.yml and *.json files (not recursing).
func ReadCRDFiles(paths ...string) ([]*extv1.CustomResourceDefinition, error) {
	var crds []*extv1.CustomResourceDefinition
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		files := []string{p}
		if info.IsDir() {
			files = nil
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				switch strings.ToLower(filepath.Ext(e.Name())) {
				case ".yaml", ".yml", ".json":
					if !e.IsDir() {
						files = append(files, filepath.Join(p, e.Name()))
					}
				}
			}
			sort.Strings(files)
		}
		for _, f := range files {
			found, err := readCRDFile(f)
			if err != nil {
				return nil, err
			}
			crds = append(crds, found...)
		}
	}
	return crds, nil
}

func readCRDFile(path string) ([]*extv1.CustomResourceDefinition, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	crds, err := ReadCRDs(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return crds, nil
}
