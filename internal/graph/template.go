package graph

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/korvid/korvid/internal/graph/expr"
)

type tmplKind uint8

const (
	tmplLiteral tmplKind = iota
	tmplObject
	tmplArray
	tmplExpr
)

// tmplNode is a compiled template value. Subtrees without expressions are
// kept as literals and copied on render.
type tmplNode struct {
	kind   tmplKind
	lit    any
	keys   []string
	fields []*tmplNode
	items  []*tmplNode
	val    *exprValue
}

// exprValue is a string holding expressions: a standalone expression or a
// string template.
type exprValue struct {
	standalone bool
	parts      []valuePart
	path       string
	source     string
}

type valuePart struct {
	lit string
	ex  *celExpr
}

// templateWalker compiles a template against its kind's schema.
type templateWalker struct {
	c           *compiler
	env         *graphEnv
	node        *nodeCtx
	checkSchema bool
	// nameExprs are the expressions found in metadata.name.
	nameExprs []*celExpr
	// status mode: every leaf must be an expression; types are inferred.
	status bool
}

func (w *templateWalker) errorf(p *field.Path, v any, format string, args ...any) {
	w.c.add(field.Invalid(p, v, fmt.Sprintf(format, args...)))
}

// literalUnless returns n when one of its children is computed, else v as
// a literal.
func literalUnless(n *tmplNode, children []*tmplNode, v any) *tmplNode {
	for _, c := range children {
		if c.kind != tmplLiteral {
			return n
		}
	}
	return &tmplNode{kind: tmplLiteral, lit: v}
}

// walk compiles v found at path p whose schema is s (nil: anything goes).
func (w *templateWalker) walk(v any, s *spec.Schema, p *field.Path) *tmplNode {
	if w.checkSchema && s != nil {
		w.checkShape(v, s, p)
	}
	switch t := v.(type) {
	case map[string]any:
		keys := slices.Sorted(maps.Keys(t))
		n := &tmplNode{kind: tmplObject, keys: keys, fields: make([]*tmplNode, len(keys))}
		for i, k := range keys {
			cs, known := childSchema(s, k)
			if w.checkSchema && !known {
				w.errorf(p.Child(k), k, "unknown field %q: the schema of %s has no such field here", k, w.kindName())
				cs = nil
			}
			n.fields[i] = w.walk(t[k], cs, p.Child(k))
		}
		return literalUnless(n, n.fields, v)
	case []any:
		var is *spec.Schema
		if s != nil && s.Items != nil {
			is = s.Items.Schema
		}
		n := &tmplNode{kind: tmplArray, items: make([]*tmplNode, len(t))}
		for i, e := range t {
			n.items[i] = w.walk(e, is, p.Index(i))
		}
		return literalUnless(n, n.items, v)
	case string:
		pv, err := expr.Parse(t)
		if err != nil {
			w.errorf(p, t, "%v", err)
			return &tmplNode{kind: tmplLiteral, lit: v}
		}
		if !pv.HasExpressions() {
			if w.status {
				w.errorf(p, t, "status fields must be ${...} expressions, found the literal %q", t)
			}
			return &tmplNode{kind: tmplLiteral, lit: v}
		}
		ev := w.compileString(pv, s, p)
		if ev == nil {
			return &tmplNode{kind: tmplLiteral, lit: nil}
		}
		return &tmplNode{kind: tmplExpr, val: ev}
	default:
		if w.status {
			w.errorf(p, v, "status fields must be ${...} expressions, found the literal %v", v)
		}
		return &tmplNode{kind: tmplLiteral, lit: v}
	}
}

func (w *templateWalker) kindName() string {
	if w.node == nil {
		return "the kind"
	}
	return w.node.node.GVK.Kind
}

// compileString compiles the expressions of one string value and checks
// their types against the target schema.
func (w *templateWalker) compileString(pv expr.Value, s *spec.Schema, p *field.Path) *exprValue {
	ev := &exprValue{standalone: pv.Standalone, path: p.String(), source: pv.String()}
	ok := true
	for _, part := range pv.Parts {
		if !part.IsExpr {
			ev.parts = append(ev.parts, valuePart{lit: part.Literal})
			continue
		}
		e, ferr := w.env.compile(part.Expr, p)
		if ferr != nil {
			w.c.add(ferr)
			ok = false
			continue
		}
		if w.node != nil {
			for _, id := range e.ids {
				w.node.deps[id] = true
			}
		}
		if isNamePath(p) {
			w.nameExprs = append(w.nameExprs, e)
		}
		if !pv.Standalone && e.omits {
			w.errorf(p, pv.String(), "expression %q calls omit() inside a string template; omit() drops a whole field, so use it as the field's only expression", e.src)
			ok = false
		} else if e.omits && isNamePath(p) {
			w.errorf(p, pv.String(), "expression %q calls omit() on metadata.name, which every object needs", e.src)
			ok = false
		} else if e.omits && w.requiresNamespace(p) {
			w.errorf(p, pv.String(), "expression %q calls omit() on metadata.namespace, which a namespaced %s needs when the instance is cluster-scoped", e.src, w.kindName())
			ok = false
		} else if w.status && e.omits {
			w.errorf(p, pv.String(), "expression %q calls omit(), which only applies to resource templates", e.src)
			ok = false
		} else if !pv.Standalone && !isStringish(e.out) {
			w.errorf(p, pv.String(), "expression %q in a string template has type %s, but every part of a string template must be a string (wrap it in string(...))", e.src, typeName(e.out))
			ok = false
		}
		ev.parts = append(ev.parts, valuePart{ex: e})
	}
	if !ok {
		return nil
	}
	if w.checkSchema && s != nil {
		if pv.Standalone {
			e := ev.parts[0].ex
			if good, want := assignable(e.out, s); !good {
				w.errorf(p, pv.String(), "expression %q has type %s, but the field expects %s", e.src, typeName(e.out), want)
				return nil
			}
		} else if good, want := assignable(cel.StringType, s); !good {
			w.errorf(p, pv.String(), "string template %q produces a string, but the field expects %s", pv.String(), want)
			return nil
		}
	}
	return ev
}

// isNamePath reports whether p is <...>.template.metadata.name.
// requiresNamespace reports the metadata.namespace of a namespaced kind in
// the graph of a cluster-scoped instance: there is no instance namespace to
// fall back to, so the field may not be omitted.
func (w *templateWalker) requiresNamespace(p *field.Path) bool {
	if w.node == nil || !w.c.clusterScoped || !w.node.node.Namespaced {
		return false
	}
	return strings.HasSuffix(p.String(), ".template.metadata.namespace")
}

func isNamePath(p *field.Path) bool {
	return strings.HasSuffix(p.String(), ".template.metadata.name")
}

func isStringish(t *cel.Type) bool {
	switch t.Kind() {
	case types.StringKind, types.DynKind, types.AnyKind:
		return true
	}
	return false
}

func spec_string() *spec.Schema { return spec.StringProperty() }

// childSchema returns the schema of key under s. known is false when s
// describes an object that has no such field.
func childSchema(s *spec.Schema, key string) (*spec.Schema, bool) {
	if s == nil || isIntOrString(s) {
		return nil, true
	}
	if prop, ok := s.Properties[key]; ok {
		return &prop, true
	}
	if s.AdditionalProperties != nil {
		if s.AdditionalProperties.Schema != nil {
			return s.AdditionalProperties.Schema, true
		}
		return nil, s.AdditionalProperties.Allows
	}
	if preservesUnknown(s) {
		return nil, true
	}
	t := schemaType(s)
	if len(s.Properties) > 0 || t == "object" {
		return nil, false
	}
	return nil, true
}

// checkShape checks the JSON kind of a literal value (and enums of scalars)
// against s. Strings holding expressions are checked by type instead.
func (w *templateWalker) checkShape(v any, s *spec.Schema, p *field.Path) {
	if v == nil || isIntOrString(s) && (isInt(v) || isString(v)) {
		return
	}
	if str, ok := v.(string); ok && strings.Contains(str, "${") {
		return
	}
	want := schemaType(s)
	if isIntOrString(s) {
		w.errorf(p, v, "expected an integer or a string, found %s", jsonKind(v))
		return
	}
	if want == "" {
		return
	}
	okKind := false
	switch want {
	case "object":
		_, okKind = v.(map[string]any)
	case "array":
		_, okKind = v.([]any)
	case "string":
		okKind = isString(v)
	case "integer":
		okKind = isInt(v)
	case "number":
		okKind = isInt(v) || isFloat(v)
	case "boolean":
		_, okKind = v.(bool)
	default:
		okKind = true
	}
	if !okKind {
		w.errorf(p, v, "expected %s, found %s", want, jsonKind(v))
		return
	}
	if len(s.Enum) > 0 && !isMapOrList(v) {
		for _, e := range s.Enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				return
			}
		}
		allowed := make([]string, 0, len(s.Enum))
		for _, e := range s.Enum {
			allowed = append(allowed, fmt.Sprint(e))
		}
		w.c.add(field.NotSupported(p, v, allowed))
	}
}

func isString(v any) bool { _, ok := v.(string); return ok }
func isInt(v any) bool {
	switch x := v.(type) {
	case int64, int, int32:
		return true
	case float64:
		return x == math.Trunc(x) && !math.IsInf(x, 0)
	}
	return false
}
func isFloat(v any) bool { _, ok := v.(float64); return ok }
func isMapOrList(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

// assignable reports whether a value of CEL type t fits schema s; want
// describes what s expects.
func assignable(t *cel.Type, s *spec.Schema) (bool, string) {
	if s == nil || t == nil {
		return true, ""
	}
	switch t.Kind() {
	case types.DynKind, types.AnyKind, types.NullTypeKind, types.TypeParamKind, types.ErrorKind:
		return true, ""
	case types.OpaqueKind:
		if t.TypeName() == "optional_type" && len(t.Parameters()) == 1 {
			return assignable(t.Parameters()[0], s)
		}
		return true, ""
	}
	if isIntOrString(s) {
		switch t.Kind() {
		case types.IntKind, types.UintKind, types.StringKind:
			return true, ""
		}
		return false, "an integer or a string"
	}
	want := schemaType(s)
	switch want {
	case "":
		return true, ""
	case "string":
		switch t.Kind() {
		case types.StringKind, types.TimestampKind, types.DurationKind, types.BytesKind:
			return true, ""
		}
		return false, "string"
	case "integer":
		switch t.Kind() {
		case types.IntKind, types.UintKind:
			return true, ""
		}
		return false, "integer"
	case "number":
		switch t.Kind() {
		case types.IntKind, types.UintKind, types.DoubleKind:
			return true, ""
		}
		return false, "number"
	case "boolean":
		return t.Kind() == types.BoolKind, "boolean"
	case "array":
		if t.Kind() != types.ListKind {
			return false, "array"
		}
		if s.Items != nil && s.Items.Schema != nil && len(t.Parameters()) == 1 {
			if ok, w := assignable(t.Parameters()[0], s.Items.Schema); !ok {
				return false, "array of " + w
			}
		}
		return true, ""
	case "object":
		switch t.Kind() {
		case types.MapKind:
			if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil && len(t.Parameters()) == 2 {
				if ok, w := assignable(t.Parameters()[1], s.AdditionalProperties.Schema); !ok {
					return false, "object with values of type " + w
				}
			}
			return true, ""
		case types.StructKind:
			return true, ""
		}
		return false, "object"
	}
	return true, ""
}
