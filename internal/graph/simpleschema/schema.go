package simpleschema

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxSchemaNodes bounds the size of a generated schema (after custom types
// are inlined), so a chain of types that reference each other several times
// cannot blow up memory.
const MaxSchemaNodes = 20000

// Built-in type names.
const (
	TypeString  = "string"
	TypeInteger = "integer"
	TypeBoolean = "boolean"
	TypeFloat   = "float"
	TypeObject  = "object"
)

var builtinTypes = []string{TypeString, TypeInteger, TypeBoolean, TypeFloat, TypeObject}

// ToOpenAPI converts a SimpleSchema object (the decoded schema.spec of an RGD,
// map[string]any) into a structural OpenAPI v3 schema for a CRD, using the
// named custom types (decoded schema.types, may be nil). specPath/typesPath are
// the field paths of those two maps (e.g. field.NewPath("spec","schema","spec")),
// used in every error.
//
// The returned schema is always non-nil; when errors are returned it is
// partial (fields with errors are left out) and must not be served.
func ToOpenAPI(spec, types map[string]any, specPath, typesPath *field.Path) (*extv1.JSONSchemaProps, field.ErrorList) {
	s, _, errs := ToOpenAPIWithColumns(spec, types, specPath, typesPath)
	return s, errs
}

// ToOpenAPIWithColumns is ToOpenAPI that also returns the printer columns
// the printColumn markers ask for, as kro generates them: one per marked
// scalar field (a field of a custom type brings the columns of the type's
// fields, and a printColumn marker on it retitles the type's only column),
// ordered by field path, with the JSON path .spec.<field path> and no
// description.
func ToOpenAPIWithColumns(spec, types map[string]any, specPath, typesPath *field.Path) (*extv1.JSONSchemaProps, []extv1.CustomResourceColumnDefinition, field.ErrorList) {
	c := &converter{
		types:     types,
		typesPath: typesPath,
		specPath:  specPath,
		state:     map[string]int{},
		built:     map[string]*namedType{},
		cycles:    map[string]bool{},
	}
	for _, name := range slices.Sorted(maps.Keys(types)) {
		if slices.Contains(builtinTypes, name) {
			c.errs = append(c.errs, field.Invalid(typesPath.Child(name), name,
				fmt.Sprintf("custom type %q has the name of a built-in type", name)))
			continue
		}
		if strings.HasPrefix(name, "[]") || strings.HasPrefix(name, "map[") || strings.ContainsAny(name, " \t|") {
			c.errs = append(c.errs, field.Invalid(typesPath.Child(name), name,
				fmt.Sprintf("custom type name %q cannot be referenced: it must not start with [] or map[ nor contain spaces or |", name)))
			continue
		}
		c.resolveNamed(name)
	}
	root, cols := c.object(spec, specPath)
	if len(c.errs) == 0 {
		c.errs = append(c.errs, checkStructural(root, specPath)...)
	}
	columns, errs := printerColumns(cols, specPath)
	c.errs = append(c.errs, errs...)
	return root, columns, c.errs
}

// column is a printColumn marker's column, at a field path relative to the
// object (or custom type) it was found in.
type column struct {
	path  []string
	title string
	typ   string // the field's OpenAPI type
}

func prefixed(name string, cols []column) []column {
	out := make([]column, len(cols))
	for i, col := range cols {
		out[i] = column{path: append([]string{name}, col.path...), title: col.title, typ: col.typ}
	}
	return out
}

// jsonPathIdentifier is what a field name must look like to be written in
// a printer column's JSON path.
var jsonPathIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// printerColumns turns the columns found in the spec into CRD printer
// columns, sorted by field path, one per path.
func printerColumns(cols []column, specPath *field.Path) ([]extv1.CustomResourceColumnDefinition, field.ErrorList) {
	slices.SortStableFunc(cols, func(a, b column) int { return slices.Compare(a.path, b.path) })
	var out []extv1.CustomResourceColumnDefinition
	var errs field.ErrorList
	seen := map[string]bool{}
	for _, col := range cols {
		key := strings.Join(col.path, "\x00")
		if seen[key] {
			continue
		}
		seen[key] = true
		p := specPath
		for _, seg := range col.path {
			p = p.Child(seg)
		}
		dotted := strings.Join(col.path, ".")
		switch col.typ {
		case "string", "integer", "boolean", "number":
		default:
			errs = append(errs, field.Invalid(p, col.title, fmt.Sprintf("spec field %q: printColumn marker only supports scalar fields, got type: %s", dotted, col.typ)))
			continue
		}
		jsonPath := ".spec"
		ok := true
		for _, seg := range col.path {
			if !jsonPathIdentifier.MatchString(seg) {
				errs = append(errs, field.Invalid(p, col.title, fmt.Sprintf("spec field %q: printColumn only supports identifier-safe field names (matching %q), got %q", dotted, jsonPathIdentifier.String(), seg)))
				ok = false
				break
			}
			jsonPath += "." + seg
		}
		if ok {
			out = append(out, extv1.CustomResourceColumnDefinition{Name: col.title, Type: col.typ, JSONPath: jsonPath})
		}
	}
	return out, errs
}

type namedType struct {
	schema   *extv1.JSONSchemaProps
	required bool // the definition itself says required=true
	size     int
	columns  []column
}

const (
	unvisited = iota
	visiting
	done
)

type converter struct {
	types     map[string]any
	typesPath *field.Path
	specPath  *field.Path

	state  map[string]int
	built  map[string]*namedType
	stack  []string
	cycles map[string]bool

	nodes    int
	tooLarge bool

	errs field.ErrorList
}

func (c *converter) addNodes(n int, path *field.Path) bool {
	c.nodes += n
	if c.nodes <= MaxSchemaNodes {
		return true
	}
	if !c.tooLarge {
		c.tooLarge = true
		c.errs = append(c.errs, field.Invalid(path, c.nodes,
			fmt.Sprintf("schema is too large: more than %d nodes after inlining custom types", MaxSchemaNodes)))
	}
	return false
}

// object builds an object schema from a nested map of field definitions,
// and collects the printer columns of its fields.
func (c *converter) object(m map[string]any, path *field.Path) (*extv1.JSONSchemaProps, []column) {
	s := &extv1.JSONSchemaProps{Type: "object"}
	if !c.addNodes(1, path) {
		return s, nil
	}
	var cols []column
	for _, name := range slices.Sorted(maps.Keys(m)) {
		p := path.Child(name)
		if name == "" {
			c.errs = append(c.errs, field.Invalid(p, name, "field name must not be empty"))
			continue
		}
		child, required, childCols := c.field(m[name], p)
		if child == nil {
			continue
		}
		cols = append(cols, prefixed(name, childCols)...)
		if s.Properties == nil {
			s.Properties = map[string]extv1.JSONSchemaProps{}
		}
		s.Properties[name] = *child
		if required {
			s.Required = append(s.Required, name)
		}
	}
	applyObjectDefault(s)
	return s, cols
}

// applyObjectDefault gives an object `default: {}` when a child has a default
// and no child is required, so the API server applies the nested defaults
// even when the object itself is omitted.
func applyObjectDefault(s *extv1.JSONSchemaProps) {
	if s.Default != nil || len(s.Required) > 0 {
		return
	}
	for _, p := range s.Properties {
		if p.Default != nil {
			s.Default = &extv1.JSON{Raw: []byte("{}")}
			return
		}
	}
}

// field converts one property value: a definition string or a nested map.
func (c *converter) field(v any, path *field.Path) (*extv1.JSONSchemaProps, bool, []column) {
	switch v := v.(type) {
	case string:
		return c.fieldString(v, path)
	case map[string]any:
		s, cols := c.object(v, path)
		return s, false, cols
	default:
		c.errs = append(c.errs, field.Invalid(path, v,
			fmt.Sprintf(`expected a field definition such as "string | required=true" or a map of fields, found %s`, describeValue(v))))
		return nil, false, nil
	}
}

func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case []any:
		return "a list"
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case float64, int64, int:
		return fmt.Sprintf("number %v", v)
	default:
		return fmt.Sprintf("%T", v)
	}
}

// fieldString parses and converts one definition string. It returns nil when
// the definition has errors (they are recorded).
func (c *converter) fieldString(def string, path *field.Path) (*extv1.JSONSchemaProps, bool, []column) {
	f, err := ParseField(def)
	if err != nil {
		c.errs = append(c.errs, field.Invalid(path, def, err.Error()))
		return nil, false, nil
	}
	title, printed := f.Marker(MarkerPrintColumn)
	if printed && strings.TrimSpace(title) == "" {
		c.errs = append(c.errs, field.Invalid(path, def, "printColumn requires a non-empty title"))
		return nil, false, nil
	}
	s, typeRequired := c.resolveType(f.Type, path)
	if s == nil {
		return nil, false, nil
	}
	required, errs := applyMarkers(s, f, path)
	if len(errs) > 0 {
		c.errs = append(c.errs, errs...)
		return nil, false, nil
	}
	typeCols, err := c.typeColumns(f.Type)
	if err != nil {
		c.errs = append(c.errs, field.Invalid(path, def, err.Error()))
		return nil, false, nil
	}
	if len(typeCols) > 0 {
		if printed && len(typeCols) > 1 {
			c.errs = append(c.errs, field.Invalid(path, def, fmt.Sprintf(
				"printColumn on this field references custom type %s with %d printer columns; a title override is only allowed when the custom type produces exactly one column", f.Type, len(typeCols))))
			return nil, false, nil
		}
		cols := slices.Clone(typeCols)
		if printed {
			cols[0].title = strings.TrimSpace(title)
		}
		return s, required || typeRequired, cols
	}
	if printed {
		return s, required || typeRequired, []column{{title: strings.TrimSpace(title), typ: s.Type}}
	}
	return s, required || typeRequired, nil
}

// typeColumns returns the printer columns a type expression brings: those
// of a custom type's fields. Columns inside array and map types are
// refused, as kro refuses them.
func (c *converter) typeColumns(t string) ([]column, error) {
	if elem, ok := strings.CutPrefix(t, "[]"); ok {
		if cols, err := c.typeColumns(elem); err != nil || len(cols) > 0 {
			return nil, errors.Join(err, errors.New("printColumn markers inside array types are not supported"))
		}
		return nil, nil
	}
	if rest, ok := strings.CutPrefix(t, "map["); ok {
		_, elem, _ := strings.Cut(rest, "]")
		if cols, err := c.typeColumns(elem); err != nil || len(cols) > 0 {
			return nil, errors.Join(err, errors.New("printColumn markers inside map types are not supported"))
		}
		return nil, nil
	}
	if nt := c.built[t]; nt != nil {
		return nt.columns, nil
	}
	return nil, nil
}

// resolveType builds a fresh schema for a type expression. It returns nil
// when the type cannot be resolved (the error is recorded).
func (c *converter) resolveType(t string, path *field.Path) (*extv1.JSONSchemaProps, bool) {
	switch t {
	case TypeString, TypeInteger, TypeBoolean:
		if !c.addNodes(1, path) {
			return nil, false
		}
		return &extv1.JSONSchemaProps{Type: t}, false
	case TypeFloat:
		if !c.addNodes(1, path) {
			return nil, false
		}
		return &extv1.JSONSchemaProps{Type: "number"}, false
	case TypeObject:
		if !c.addNodes(1, path) {
			return nil, false
		}
		return &extv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr(true)}, false
	}
	if elem, ok := strings.CutPrefix(t, "[]"); ok {
		if elem == "" {
			c.errs = append(c.errs, field.Invalid(path, t, "array type [] needs an element type, e.g. []string"))
			return nil, false
		}
		items, _ := c.resolveType(elem, path)
		if items == nil || !c.addNodes(1, path) {
			return nil, false
		}
		return &extv1.JSONSchemaProps{Type: "array", Items: &extv1.JSONSchemaPropsOrArray{Schema: items}}, false
	}
	if rest, ok := strings.CutPrefix(t, "map["); ok {
		key, elem, found := strings.Cut(rest, "]")
		if !found || key != "string" {
			c.errs = append(c.errs, field.Invalid(path, t,
				fmt.Sprintf("map type %q must be written map[string]<type>: only string keys are supported", t)))
			return nil, false
		}
		if elem == "" {
			c.errs = append(c.errs, field.Invalid(path, t, "map type needs a value type, e.g. map[string]string"))
			return nil, false
		}
		values, _ := c.resolveType(elem, path)
		if values == nil || !c.addNodes(1, path) {
			return nil, false
		}
		return &extv1.JSONSchemaProps{Type: "object", AdditionalProperties: &extv1.JSONSchemaPropsOrBool{Allows: true, Schema: values}}, false
	}
	if _, ok := c.types[t]; ok {
		nt := c.resolveNamed(t)
		if nt == nil || nt.schema == nil || !c.addNodes(nt.size, path) {
			return nil, false
		}
		return nt.schema.DeepCopy(), nt.required
	}
	c.errs = append(c.errs, field.Invalid(path, t, fmt.Sprintf(
		"unknown type %q: expected string, integer, boolean, float, object, []<type>, map[string]<type> or a custom type%s",
		t, c.customTypeList())))
	return nil, false
}

func (c *converter) customTypeList() string {
	if len(c.types) == 0 {
		return " (spec.schema.types defines none)"
	}
	return " (" + strings.Join(slices.Sorted(maps.Keys(c.types)), ", ") + ")"
}

// resolveNamed builds (once) the schema of a custom type, reporting a
// reference cycle at the type where it was entered.
func (c *converter) resolveNamed(name string) *namedType {
	switch c.state[name] {
	case done:
		return c.built[name]
	case visiting:
		i := slices.Index(c.stack, name)
		cycle := append(slices.Clone(c.stack[i:]), name)
		members := slices.Clone(c.stack[i:])
		sort.Strings(members)
		key := strings.Join(members, ",")
		if !c.cycles[key] {
			c.cycles[key] = true
			c.errs = append(c.errs, field.Invalid(c.typesPath.Child(c.stack[i]), c.stack[i],
				"custom types reference each other in a cycle: "+strings.Join(cycle, " -> ")))
		}
		return nil
	}
	c.state[name] = visiting
	c.stack = append(c.stack, name)
	path := c.typesPath.Child(name)
	before := c.nodes
	var nt *namedType
	switch def := c.types[name].(type) {
	case string:
		if s, required, cols := c.fieldString(def, path); s != nil {
			nt = &namedType{schema: s, required: required, columns: cols}
		}
	case map[string]any:
		s, cols := c.object(def, path)
		nt = &namedType{schema: s, columns: cols}
	default:
		c.errs = append(c.errs, field.Invalid(path, def,
			fmt.Sprintf(`expected a type definition such as "integer | minimum=1" or a map of fields, found %s`, describeValue(def))))
	}
	if nt != nil {
		nt.size = max(c.nodes-before, 1)
	}
	c.stack = c.stack[:len(c.stack)-1]
	c.state[name] = done
	c.built[name] = nt
	return nt
}

func ptr[T any](v T) *T { return &v }
