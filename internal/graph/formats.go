package graph

import (
	"encoding/base64"
	"time"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

// formatNode marks where a schema has string fields whose format gives them
// a richer CEL type, as kro and Kubernetes CEL type them: `byte` is bytes
// (base64-decoded), `date-time` and `date` are timestamps, `duration` is a
// duration. Values read from the cluster are plain JSON strings; they are
// converted along these paths before an expression sees them, so that
// string(secret.data.password) is the decoded password.
type formatNode struct {
	format string
	fields map[string]*formatNode
	// items covers array items and the values of maps.
	items *formatNode
}

// celFormat reports whether a string format has its own CEL type.
func celFormat(f string) bool {
	switch f {
	case "byte", "date-time", "date", "duration":
		return true
	}
	return false
}

// formatsOf builds the format tree of a schema, nil when no field has a
// typed format.
func formatsOf(s *spec.Schema, depth int) *formatNode {
	if s == nil || depth > maxSchemaDepth || isIntOrString(s) {
		return nil
	}
	switch schemaType(s) {
	case "string":
		if celFormat(s.Format) {
			return &formatNode{format: s.Format}
		}
		return nil
	case "array":
		if s.Items != nil && s.Items.Schema != nil {
			if it := formatsOf(s.Items.Schema, depth+1); it != nil {
				return &formatNode{items: it}
			}
		}
		return nil
	}
	var out *formatNode
	for name := range s.Properties {
		prop := s.Properties[name]
		if f := formatsOf(&prop, depth+1); f != nil {
			if out == nil {
				out = &formatNode{fields: map[string]*formatNode{}}
			}
			out.fields[name] = f
		}
	}
	if len(s.Properties) == 0 && s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		if it := formatsOf(s.AdditionalProperties.Schema, depth+1); it != nil {
			out = &formatNode{items: it}
		}
	}
	return out
}

// listFormats wraps the format tree of an item for a list of them.
func listFormats(item *formatNode) *formatNode {
	if item == nil {
		return nil
	}
	return &formatNode{items: item}
}

// apply returns v with the formatted strings along f converted; v itself is
// not modified (maps and lists on the way to a converted string are copied,
// the rest is shared). A string that does not parse in its format is left
// as it is.
func (f *formatNode) apply(v any) any {
	out, _ := f.convert(v)
	return out
}

// convert is apply that also reports whether anything was converted: when
// nothing was, v itself is returned and no copy is made.
func (f *formatNode) convert(v any) (any, bool) {
	if f == nil || v == nil {
		return v, false
	}
	switch t := v.(type) {
	case string:
		c := convertFormatted(f.format, t)
		_, same := c.(string)
		return c, !same
	case map[string]any:
		var out map[string]any
		set := func(k string, c any) {
			if out == nil {
				out = make(map[string]any, len(t))
				for k, e := range t {
					out[k] = e
				}
			}
			out[k] = c
		}
		for k, child := range f.fields {
			if e, ok := t[k]; ok {
				if c, changed := child.convert(e); changed {
					set(k, c)
				}
			}
		}
		if f.items != nil && f.fields == nil {
			for k, e := range t {
				if c, changed := f.items.convert(e); changed {
					set(k, c)
				}
			}
		}
		if out == nil {
			return v, false
		}
		return out, true
	case []any:
		if f.items == nil {
			return v, false
		}
		var out []any
		for i, e := range t {
			c, changed := f.items.convert(e)
			if changed && out == nil {
				out = make([]any, len(t))
				copy(out, t)
			}
			if out != nil {
				out[i] = c
			}
		}
		if out == nil {
			return v, false
		}
		return out, true
	}
	return v, false
}

func convertFormatted(format, s string) any {
	switch format {
	case "byte":
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			return b
		}
	case "date-time":
		if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return ts
		}
	case "date":
		if ts, err := time.Parse(time.DateOnly, s); err == nil {
			return ts
		}
	case "duration":
		if d, err := time.ParseDuration(s); err == nil {
			return d
		}
	}
	return s
}
