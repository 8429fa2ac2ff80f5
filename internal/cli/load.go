package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/korvid/korvid/api/v1alpha1"
)

// inputError is a problem with the input itself (unreadable, not YAML, no
// RGD): exit code 2.
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

func inputErrorf(format string, args ...any) error {
	return &inputError{fmt.Errorf(format, args...)}
}

// document is one YAML document of an input file.
type document struct {
	file string
	node *yaml.Node
	// json is the document as JSON, decoded the way kubectl decodes YAML.
	json []byte
	gvk  schema.GroupVersionKind
	name string
}

func (d *document) isRGD() bool {
	return d.gvk.Group == v1alpha1.GroupVersion.Group && d.gvk.Kind == "ResourceGraphDefinition"
}

// position returns where a field path points in the document.
func (d *document) position(path string) Position { return locate(d.node, path) }

// yamlExtensions are the file names a directory walk reads.
var yamlExtensions = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// readInputs reads every document of the given files and directories
// (recursively, YAML and JSON files only), in a stable order. "-" reads
// standard input.
func readInputs(paths []string, stdin io.Reader) ([]*document, error) {
	if len(paths) == 0 {
		return nil, inputErrorf("no input: give at least one file or directory with -f")
	}
	var docs []*document
	for _, p := range paths {
		if p == "-" {
			b, err := io.ReadAll(stdin)
			if err != nil {
				return nil, inputErrorf("reading standard input: %w", err)
			}
			d, err := parseDocuments("<stdin>", b)
			if err != nil {
				return nil, err
			}
			docs = append(docs, d...)
			continue
		}
		files, err := expandPath(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, inputErrorf("reading %s: %w", f, err)
			}
			d, err := parseDocuments(f, b)
			if err != nil {
				return nil, err
			}
			docs = append(docs, d...)
		}
	}
	return docs, nil
}

func expandPath(p string) ([]string, error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, inputErrorf("reading %s: %w", p, err)
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var files []string
	ignored := map[string]bool{}
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ignored[path] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return readIgnoreFile(path, ignored)
		}
		if yamlExtensions[strings.ToLower(filepath.Ext(path))] {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, inputErrorf("reading directory %s: %w", p, err)
	}
	sort.Strings(files)
	return files, nil
}

// IgnoreFile names the file that lists, one glob pattern a line relative
// to its directory, the files and directories a directory walk skips. It
// applies below the directory it is in: naming a skipped directory on the
// command line reads it. examples/ uses it to keep its deliberately broken
// RGD out of `korvid validate -f examples/`.
const IgnoreFile = ".korvidignore"

// readIgnoreFile adds the entries of dir that dir's ignore file matches.
func readIgnoreFile(dir string, ignored map[string]bool) error {
	b, err := os.ReadFile(filepath.Join(dir, IgnoreFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		pattern := strings.TrimSuffix(strings.TrimSpace(line), "/")
		if pattern == "" || strings.HasPrefix(pattern, "#") {
			continue
		}
		matches, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return fmt.Errorf("%s: pattern %q: %w", filepath.Join(dir, IgnoreFile), pattern, err)
		}
		for _, m := range matches {
			ignored[m] = true
		}
	}
	return nil
}

// parseDocuments splits a file into its YAML documents, keeping positions.
func parseDocuments(file string, b []byte) ([]*document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []*document
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, inputErrorf("%s: not valid YAML: %w", file, err)
		}
		if len(n.Content) == 0 || (n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
			continue // an empty document, e.g. after a trailing ---
		}
		d, err := newDocument(file, &n)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return docs, nil
}

func newDocument(file string, n *yaml.Node) (*document, error) {
	line := n.Content[0].Line
	if n.Content[0].Kind != yaml.MappingNode {
		return nil, inputErrorf("%s:%d: a Kubernetes object must be a YAML mapping", file, line)
	}
	raw, err := yaml.Marshal(n)
	if err != nil {
		return nil, inputErrorf("%s:%d: %w", file, line, err)
	}
	js, err := sigsyaml.YAMLToJSON(raw)
	if err != nil {
		return nil, inputErrorf("%s:%d: not a Kubernetes object: %w", file, line, err)
	}
	var meta struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &meta); err != nil {
		return nil, inputErrorf("%s:%d: not a Kubernetes object: %w", file, line, err)
	}
	return &document{file: file, node: n, json: js, gvk: meta.GroupVersionKind(), name: meta.Metadata.Name}, nil
}

// typeErrorField extracts the field of a JSON type mismatch from
// encoding/json's message ("... Go struct field Spec.spec.resources of type ...").
var typeErrorField = regexp.MustCompile(`Go struct field [A-Za-z0-9_]+\.(\S+) of type (\S+)`)

// decodeRGD decodes an RGD document strictly. Unknown or duplicate fields
// and type mismatches, which the API server refuses before any webhook sees
// the object, are returned as diagnostics.
func decodeRGD(d *document) (*v1alpha1.ResourceGraphDefinition, []Diagnostic) {
	rgd := &v1alpha1.ResourceGraphDefinition{}
	strict, err := kjson.UnmarshalStrict(d.json, rgd)
	var diags []Diagnostic
	for _, e := range strict {
		path := ""
		var fe interface{ FieldPath() string }
		if errors.As(e, &fe) {
			path = fe.FieldPath()
		}
		msg := e.Error()
		if i := strings.Index(msg, " \""); i > 0 {
			msg = msg[:i] // "unknown field" or "duplicate field"; the path is printed apart
		}
		diags = append(diags, d.diagnostic(path, "FieldValueNotSupported", msg+": the ResourceGraphDefinition API has no such field"))
	}
	if err != nil {
		path, msg := "", strings.TrimPrefix(err.Error(), "json: ")
		if m := typeErrorField.FindStringSubmatch(err.Error()); m != nil {
			path, msg = m[1], fmt.Sprintf("Invalid value: expected %s: %s", m[2], msg)
		}
		diags = append(diags, d.diagnostic(path, "FieldValueTypeInvalid", msg))
		return nil, diags
	}
	return rgd, diags
}

func (d *document) diagnostic(path, typ, msg string) Diagnostic {
	pos := d.position(path)
	if path == "" {
		path = "<root>"
	}
	return Diagnostic{File: d.file, Line: pos.Line, Column: pos.Column, RGD: d.name, Field: path, Type: typ, Message: msg}
}
