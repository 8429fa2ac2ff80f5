package graph

import (
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// declTree is the CEL view of one OpenAPI schema: its root type and every
// object type nested in it, by type name.
type declTree struct {
	root    *apiservercel.DeclType
	objects map[string]*apiservercel.DeclType
	// formats marks the string fields converted to bytes, timestamps or
	// durations before evaluation (nil when there are none).
	formats *formatNode
}

type declKey struct {
	schema *spec.Schema
	name   string
}

// declCache holds the converted schemas of resolved kinds. Resolvers hand out
// the same immutable *spec.Schema for a kind, so converting it once per
// process keeps Compile fast.
var declCache sync.Map // declKey -> *declTree

// Size bounds assumed for values whose schema sets none, for cost estimates.
// An object stored in etcd is at most 1.5 MiB, so these are generous while
// keeping ordinary expressions (string concatenation, a map over a list) far
// below the cost limit.
const (
	defaultMaxStringLength = 4 << 10
	defaultMaxListItems    = 1_000
	defaultMaxMapEntries   = 1_000
)

// maxSchemaDepth bounds the conversion of (possibly recursive) schemas.
const maxSchemaDepth = 48

func cachedDeclTree(s *spec.Schema, name string) *declTree {
	k := declKey{s, name}
	if v, ok := declCache.Load(k); ok {
		return v.(*declTree)
	}
	t := newDeclTree(s, name)
	v, _ := declCache.LoadOrStore(k, t)
	return v.(*declTree)
}

func newDeclTree(s *spec.Schema, name string) *declTree {
	t := &declTree{objects: map[string]*apiservercel.DeclType{}}
	t.root = t.convert(s, name, 0)
	t.formats = formatsOf(s, 0)
	return t
}

// convert maps an OpenAPI schema to a CEL declaration. Objects with
// properties become named object types whose fields are the raw property
// names (names that are not CEL identifiers are reached with backquotes);
// schemaless objects, int-or-string and untyped values become dyn.
func (t *declTree) convert(s *spec.Schema, name string, depth int) *apiservercel.DeclType {
	if s == nil || depth > maxSchemaDepth {
		return apiservercel.DynType
	}
	if isIntOrString(s) {
		return apiservercel.DynType
	}
	typ := schemaType(s)
	if typ == "" && len(s.Properties) > 0 {
		typ = "object"
	}
	switch typ {
	case "object":
		if len(s.Properties) > 0 {
			required := make(map[string]bool, len(s.Required))
			for _, r := range s.Required {
				required[r] = true
			}
			fields := make(map[string]*apiservercel.DeclField, len(s.Properties))
			for pname := range s.Properties {
				prop := s.Properties[pname]
				ft := t.convert(&prop, name+"."+pname, depth+1)
				fields[pname] = apiservercel.NewDeclField(pname, ft, required[pname], nil, nil)
			}
			obj := apiservercel.NewObjectType(name, fields)
			t.objects[name] = obj
			return obj
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			elem := t.convert(s.AdditionalProperties.Schema, name+".@elem", depth+1)
			return apiservercel.NewMapType(apiservercel.StringType, elem, maxOr(s.MaxProperties, defaultMaxMapEntries))
		}
		return apiservercel.DynType
	case "array":
		elem := apiservercel.DynType
		if s.Items != nil && s.Items.Schema != nil {
			elem = t.convert(s.Items.Schema, name+".@idx", depth+1)
		}
		return apiservercel.NewListType(elem, maxOr(s.MaxItems, defaultMaxListItems))
	case "string":
		switch s.Format {
		case "byte":
			bt := apiservercel.NewSimpleTypeWithMinSize("bytes", cel.BytesType, types.Bytes([]byte{}), apiservercel.MinStringSize)
			bt.MaxElements = maxOr(s.MaxLength, defaultMaxStringLength)
			return bt
		case "date-time", "date":
			return apiservercel.TimestampType
		case "duration":
			return apiservercel.DurationType
		}
		st := apiservercel.NewSimpleTypeWithMinSize("string", cel.StringType, types.String(""), apiservercel.MinStringSize)
		st.MaxElements = maxOr(s.MaxLength, defaultMaxStringLength)
		if len(s.Enum) > 0 && s.MaxLength == nil {
			var longest int64
			for _, e := range s.Enum {
				if str, ok := e.(string); ok && int64(len(str)) > longest {
					longest = int64(len(str))
				}
			}
			st.MaxElements = longest
		}
		return st
	case "integer":
		return apiservercel.IntType
	case "number":
		return apiservercel.DoubleType
	case "boolean":
		return apiservercel.BoolType
	}
	return apiservercel.DynType
}

func maxOr(p *int64, def int64) int64 {
	if p != nil && *p >= 0 {
		return *p
	}
	return def
}

func schemaType(s *spec.Schema) string {
	if s == nil || len(s.Type) == 0 {
		return ""
	}
	return s.Type[0]
}

func isIntOrString(s *spec.Schema) bool { return extensionSet(s, "x-kubernetes-int-or-string") }

func preservesUnknown(s *spec.Schema) bool {
	return extensionSet(s, "x-kubernetes-preserve-unknown-fields")
}

// extensionSet reports whether the boolean schema extension name is true.
func extensionSet(s *spec.Schema, name string) bool {
	if s == nil {
		return false
	}
	b, ok := s.Extensions[name].(bool)
	return ok && b
}

// typeRegistry is the CEL type provider of one compiled graph: it knows the
// object types of every variable and defers everything else to the base
// environment's provider.
type typeRegistry struct {
	trees   []*declTree
	base    types.Provider
	adapter types.Adapter
}

var _ types.Provider = (*typeRegistry)(nil)
var _ types.Adapter = (*typeRegistry)(nil)

func (r *typeRegistry) add(t *declTree) {
	for _, have := range r.trees {
		if have == t {
			return
		}
	}
	r.trees = append(r.trees, t)
}

func (r *typeRegistry) find(name string) (*apiservercel.DeclType, bool) {
	for _, t := range r.trees {
		if d, ok := t.objects[name]; ok {
			return d, true
		}
	}
	return nil, false
}

func (r *typeRegistry) EnumValue(enumName string) ref.Val { return r.base.EnumValue(enumName) }

func (r *typeRegistry) FindIdent(identName string) (ref.Val, bool) {
	return r.base.FindIdent(identName)
}

func (r *typeRegistry) FindStructType(structType string) (*types.Type, bool) {
	if d, ok := r.find(structType); ok {
		return types.NewTypeTypeWithParam(d.CelType()), true
	}
	return r.base.FindStructType(structType)
}

func (r *typeRegistry) FindStructFieldNames(structType string) ([]string, bool) {
	if d, ok := r.find(structType); ok {
		names := make([]string, 0, len(d.Fields))
		for n := range d.Fields {
			names = append(names, n)
		}
		return names, true
	}
	return r.base.FindStructFieldNames(structType)
}

func (r *typeRegistry) FindStructFieldType(structType, fieldName string) (*types.FieldType, bool) {
	d, ok := r.find(structType)
	if !ok {
		return r.base.FindStructFieldType(structType, fieldName)
	}
	f, ok := d.Fields[fieldName]
	if !ok {
		return nil, false
	}
	return &types.FieldType{Type: f.Type.CelType()}, true
}

func (r *typeRegistry) NewValue(structType string, fields map[string]ref.Val) ref.Val {
	return r.base.NewValue(structType, fields)
}

func (r *typeRegistry) NativeToValue(v any) ref.Val { return r.adapter.NativeToValue(v) }
