package admission

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/validate"
)

// plainlyValid reports whether v certainly passes s as kube-openapi's
// validator sees it (missing required fields aside, which checkRendered
// ignores). It walks the value once and allocates nothing, where the
// validator builds a tree of validators for every field on every call: on
// instance admission that was most of the time spent checking rendered
// objects. It knows a subset of JSON schema (types, properties, items,
// additionalProperties, enum of strings, lengths, bounds, sizes, int32 and
// int64 formats); anything else, and anything that does not pass, makes it
// answer false, and the caller runs the validator, which then also gives
// the errors. It must never answer true where the validator would report an
// error.
func plainlyValid(s *spec.Schema, v any) bool {
	if s == nil {
		return true
	}
	return plainlyValidValue(*s, v)
}

// plainlyValidValue is plainlyValid on a copy of the schema: properties are
// map values, and a pointer to one would be moved to the heap at every
// field; a copy on the stack is cheaper.
func plainlyValidValue(s spec.Schema, v any) bool {
	if s.Ref.GetURL() != nil || len(s.AllOf) > 0 || len(s.AnyOf) > 0 || len(s.OneOf) > 0 || s.Not != nil ||
		len(s.PatternProperties) > 0 || len(s.Dependencies) > 0 || s.MinProperties != nil || s.MaxProperties != nil ||
		s.MultipleOf != nil || s.UniqueItems || s.Pattern != "" || len(s.Type) > 1 {
		return false
	}
	typ := ""
	if len(s.Type) == 1 {
		typ = s.Type[0]
	}
	switch x := v.(type) {
	case string:
		if typ != "string" || s.Format != "" || s.Minimum != nil || s.Maximum != nil {
			return false
		}
		if s.MaxLength != nil || s.MinLength != nil {
			n := int64(utf8.RuneCountInString(x))
			if s.MaxLength != nil && n > *s.MaxLength || s.MinLength != nil && n < *s.MinLength {
				return false
			}
		}
		return len(s.Enum) == 0 || slices.Contains(s.Enum, any(x))
	case int64:
		if typ != "integer" && (typ != "number" || s.Format != "") || len(s.Enum) > 0 {
			return false
		}
		switch s.Format {
		case "", "int64":
		case "int32":
			if x < math.MinInt32 || x > math.MaxInt32 {
				return false
			}
		default:
			return false
		}
		if (s.Minimum != nil || s.Maximum != nil) && (x > 1<<53 || x < -(1<<53)) {
			return false // beyond exact float64 comparison
		}
		return inBounds(&s, float64(x))
	case float64:
		if typ != "number" || s.Format != "" || len(s.Enum) > 0 {
			return false
		}
		return inBounds(&s, x)
	case bool:
		return typ == "boolean" && s.Format == "" && len(s.Enum) == 0
	case map[string]any:
		if typ != "object" && typ != "" || s.Format != "" || len(s.Enum) > 0 {
			return false
		}
		for k, e := range x {
			if p, ok := s.Properties[k]; ok {
				if !plainlyValidValue(p, e) {
					return false
				}
				continue
			}
			switch ap := s.AdditionalProperties; {
			case ap == nil:
			case ap.Schema != nil:
				if !plainlyValid(ap.Schema, e) {
					return false
				}
			case !ap.Allows:
				return false
			}
		}
		return true
	case []any:
		if typ != "array" && typ != "" || s.Format != "" || len(s.Enum) > 0 {
			return false
		}
		n := int64(len(x))
		if s.MaxItems != nil && n > *s.MaxItems || s.MinItems != nil && n < *s.MinItems {
			return false
		}
		if s.Items == nil {
			return true
		}
		if s.Items.Schema == nil {
			return len(s.Items.Schemas) == 0 // tuples: ask the validator
		}
		for _, e := range x {
			if !plainlyValid(s.Items.Schema, e) {
				return false
			}
		}
		return true
	}
	return false // nil and anything else: ask the validator
}

// inBounds reports whether x is within s's minimum and maximum.
func inBounds(s *spec.Schema, x float64) bool {
	if s.Maximum != nil && (x > *s.Maximum || s.ExclusiveMaximum && x == *s.Maximum) {
		return false
	}
	if s.Minimum != nil && (x < *s.Minimum || s.ExclusiveMinimum && x == *s.Minimum) {
		return false
	}
	return true
}

// formatOverflow is a number of a rendered object, at path, that the
// numeric format of its field (int32, uint32, uint64, float) cannot hold.
type formatOverflow struct {
	path   string
	value  any
	format string
}

// problem says what is wrong, in the words of checkRendered's errors.
func (o formatOverflow) problem() string {
	what := map[string]string{
		"int32":   "32-bit integer",
		"uint32":  "unsigned 32-bit integer",
		"uint64":  "unsigned 64-bit integer",
		"float":   "32-bit floating-point number",
		"float32": "32-bit floating-point number",
	}[o.format]
	if what == "" {
		what = "number"
	}
	return fmt.Sprintf("%v does not fit the field's %s (format %s)", o.value, what, o.format)
}

// formatOverflows lists, sorted by path, the numbers of v that their
// field's numeric format in s cannot hold. The schema validator reports
// them as plain errors without a field path, which checkRendered cannot
// place (it places *errors.Validation), and the API server either refuses
// such a value or stores it cut to size (a Deployment's containerPort of
// 99999999999 is refused as 1215752191). Whether a number fits is decided
// by the validator's own range check, so the two never disagree.
func formatOverflows(s *spec.Schema, v any) []formatOverflow {
	var out []formatOverflow
	var walk func(s *spec.Schema, v any, path string)
	walk = func(s *spec.Schema, v any, path string) {
		if s == nil {
			return
		}
		switch x := v.(type) {
		case int64, float64:
			if s.Format != "" && len(s.Type) == 1 && (s.Type[0] == "integer" || s.Type[0] == "number") &&
				validate.IsValueValidAgainstRange(x, s.Type[0], s.Format, "", path) != nil {
				out = append(out, formatOverflow{path, x, s.Format})
			}
		case map[string]any:
			for k, e := range x {
				p := path + "." + k
				if ps, ok := s.Properties[k]; ok {
					walk(&ps, e, p)
				} else if s.AdditionalProperties != nil {
					walk(s.AdditionalProperties.Schema, e, p)
				}
			}
		case []any:
			if s.Items != nil {
				for i, e := range x {
					walk(s.Items.Schema, e, fmt.Sprintf("%s[%d]", path, i))
				}
			}
		}
	}
	walk(s, v, "")
	slices.SortFunc(out, func(a, b formatOverflow) int { return strings.Compare(a.path, b.path) })
	return out
}
