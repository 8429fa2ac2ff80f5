package simpleschema

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// decodeJSON decodes exactly one JSON value, keeping numbers exact.
func decodeJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

// show renders a value for an error message, shortened.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	const limit = 64
	if len(b) > limit {
		return string(b[:limit]) + "..."
	}
	return string(b)
}

func at(loc string) string {
	if loc == "" {
		return ""
	}
	return " at " + loc
}

// validateValue checks that a literal value (a default or an enum value)
// would be accepted by the schema. It returns the first problem found.
func validateValue(s *extv1.JSONSchemaProps, v any, loc string) error {
	if v == nil {
		return fmt.Errorf("null%s is not allowed", at(loc))
	}
	switch s.Type {
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s%s is not a string", show(v), at(loc))
		}
		n := int64(utf8.RuneCountInString(str))
		if s.MinLength != nil && n < *s.MinLength {
			return fmt.Errorf("%q%s is shorter than minLength %d", str, at(loc), *s.MinLength)
		}
		if s.MaxLength != nil && n > *s.MaxLength {
			return fmt.Errorf("%q%s is longer than maxLength %d", str, at(loc), *s.MaxLength)
		}
		if s.Pattern != "" {
			if re, err := regexp.Compile(s.Pattern); err == nil && !re.MatchString(str) {
				return fmt.Errorf("%q%s does not match pattern %q", str, at(loc), s.Pattern)
			}
		}
	case "integer":
		n, ok := asInt(v)
		if !ok {
			return fmt.Errorf("%s%s is not an integer", show(v), at(loc))
		}
		if err := checkRange(s, float64(n), loc); err != nil {
			return err
		}
	case "number":
		f, ok := asFloat(v)
		if !ok {
			return fmt.Errorf("%s%s is not a number", show(v), at(loc))
		}
		if err := checkRange(s, f, loc); err != nil {
			return err
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s%s is not a boolean", show(v), at(loc))
		}
	case "array":
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s%s is not an array", show(v), at(loc))
		}
		n := int64(len(list))
		if s.MinItems != nil && n < *s.MinItems {
			return fmt.Errorf("%s%s has %d items, fewer than minItems %d", show(v), at(loc), n, *s.MinItems)
		}
		if s.MaxItems != nil && n > *s.MaxItems {
			return fmt.Errorf("%s%s has %d items, more than maxItems %d", show(v), at(loc), n, *s.MaxItems)
		}
		if s.Items != nil && s.Items.Schema != nil {
			for i, e := range list {
				if err := validateValue(s.Items.Schema, e, loc+"["+strconv.Itoa(i)+"]"); err != nil {
					return err
				}
			}
		}
		if s.XListType != nil && *s.XListType == "set" {
			for i := range list {
				for j := range i {
					if equalValue(list[i], list[j]) {
						return fmt.Errorf("%s%s repeats %s, but the list is a set", show(v), at(loc), show(list[i]))
					}
				}
			}
		}
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s%s is not an object", show(v), at(loc))
		}
		preserve := s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			child := loc + "." + k
			if p, ok := s.Properties[k]; ok {
				if err := validateValue(&p, obj[k], child); err != nil {
					return err
				}
				continue
			}
			if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
				if err := validateValue(s.AdditionalProperties.Schema, obj[k], child); err != nil {
					return err
				}
				continue
			}
			if !preserve {
				return fmt.Errorf("unknown field %q%s (known fields: %s)", k, at(loc), strings.Join(slices.Sorted(maps.Keys(s.Properties)), ", "))
			}
		}
		for _, r := range s.Required {
			if _, ok := obj[r]; !ok && s.Properties[r].Default == nil {
				return fmt.Errorf("required field %q is missing%s", r, at(loc))
			}
		}
	}
	if len(s.Enum) > 0 && !slices.ContainsFunc(s.Enum, func(e extv1.JSON) bool {
		ev, err := decodeJSON(string(e.Raw))
		return err == nil && equalValue(ev, v)
	}) {
		allowed := make([]string, 0, len(s.Enum))
		for _, e := range s.Enum {
			allowed = append(allowed, string(e.Raw))
		}
		return fmt.Errorf("%s%s is not one of the enum values %s", show(v), at(loc), strings.Join(allowed, ", "))
	}
	return nil
}

func checkRange(s *extv1.JSONSchemaProps, f float64, loc string) error {
	if s.Minimum != nil && (f < *s.Minimum || (s.ExclusiveMinimum && f == *s.Minimum)) {
		return fmt.Errorf("%v%s is less than minimum %v", f, at(loc), *s.Minimum)
	}
	if s.Maximum != nil && (f > *s.Maximum || (s.ExclusiveMaximum && f == *s.Maximum)) {
		return fmt.Errorf("%v%s is greater than maximum %v", f, at(loc), *s.Maximum)
	}
	return nil
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		f, err := n.Float64()
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

func asFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil && !math.IsInf(f, 0)
	}
	return 0, false
}

// equalValue compares two decoded JSON values, numbers by value.
func equalValue(a, b any) bool {
	if fa, ok := asFloat(a); ok {
		fb, ok := asFloat(b)
		return ok && fa == fb
	}
	switch a := a.(type) {
	case []any:
		bl, ok := b.([]any)
		if !ok || len(a) != len(bl) {
			return false
		}
		for i := range a {
			if !equalValue(a[i], bl[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok || !equalValue(av, bv) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}
