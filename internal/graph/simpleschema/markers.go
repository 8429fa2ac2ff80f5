package simpleschema

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ImmutableRule and ImmutableMessage make up the validation rule the
// immutable marker adds.
const (
	ImmutableRule    = "self == oldSelf"
	ImmutableMessage = "field is immutable"
	// ValidationMessage is the message of the rule a validation marker adds,
	// as kro words it.
	ValidationMessage = "validation failed"
)

// markerTypes lists the field types a type-specific marker applies to;
// markers not listed apply to every type.
var markerTypes = map[string][]string{
	MarkerMinimum:     {"integer", "float"},
	MarkerMaximum:     {"integer", "float"},
	MarkerEnum:        {"string", "integer"},
	MarkerPattern:     {"string"},
	MarkerMinLength:   {"string"},
	MarkerMaxLength:   {"string"},
	MarkerUniqueItems: {"array"},
	MarkerMinItems:    {"array"},
	MarkerMaxItems:    {"array"},
	MarkerListType:    {"array"},
	MarkerListMapKey:  {"array"},
}

// typeLabel names a schema's type the way SimpleSchema users write it.
func typeLabel(s *extv1.JSONSchemaProps) string {
	switch s.Type {
	case "number":
		return "float"
	case "object":
		if s.AdditionalProperties != nil {
			return "map"
		}
		return "object"
	}
	return s.Type
}

// applyMarkers applies f's markers to s (a fresh schema for f's type) and
// checks that they fit the type and each other. It reports whether the field
// is required.
func applyMarkers(s *extv1.JSONSchemaProps, f *Field, path *field.Path) (bool, field.ErrorList) {
	var errs field.ErrorList
	bad := func(m Marker, format string, args ...any) {
		errs = append(errs, field.Invalid(path, m.Value, fmt.Sprintf("marker %q ", m.Name)+fmt.Sprintf(format, args...)))
	}
	// flag reads a true/false marker; ok is false when it is neither.
	flag := func(m Marker) (value, ok bool) {
		if value, ok = parseBool(m.Value); !ok {
			bad(m, "needs true or false, found %q", m.Value)
		}
		return value, ok
	}
	label := typeLabel(s)
	var (
		required      bool
		uniqueItems   bool
		defaultMarker *Marker
		mapKeys       []string
		newRules      []string
	)
	for _, m := range f.Markers {
		if allowed, ok := markerTypes[m.Name]; ok && !slices.Contains(allowed, label) {
			bad(m, "does not apply to %s fields (only to %s)", label, strings.Join(allowed, " and "))
			continue
		}
		switch m.Name {
		case MarkerRequired:
			if b, ok := flag(m); ok {
				required = b
			}
		case MarkerDescription:
			s.Description = m.Value
		case MarkerDefault:
			defaultMarker = &m
		case MarkerMinimum, MarkerMaximum:
			v, ok := parseNumber(m.Value)
			if !ok {
				bad(m, "needs a number, found %q", m.Value)
				continue
			}
			if m.Name == MarkerMinimum {
				s.Minimum = &v
			} else {
				s.Maximum = &v
			}
		case MarkerEnum:
			values, err := parseEnum(m.Value, s.Type)
			if err != nil {
				bad(m, "%v", err)
				continue
			}
			s.Enum = values
		case MarkerImmutable:
			if b, ok := flag(m); ok && b && !slices.ContainsFunc(s.XValidations, func(r extv1.ValidationRule) bool { return r.Rule == ImmutableRule }) {
				s.XValidations = append(s.XValidations, extv1.ValidationRule{Rule: ImmutableRule, Message: ImmutableMessage})
			}
		case MarkerValidation:
			if strings.TrimSpace(m.Value) == "" {
				bad(m, "needs a CEL expression, found an empty value")
				continue
			}
			s.XValidations = append(s.XValidations, extv1.ValidationRule{Rule: m.Value, Message: ValidationMessage})
			newRules = append(newRules, m.Value)
		case MarkerPattern:
			if _, err := regexp.Compile(m.Value); err != nil {
				bad(m, "needs a valid regular expression, found %q: %v", m.Value, err)
				continue
			}
			s.Pattern = m.Value
		case MarkerMinLength, MarkerMaxLength, MarkerMinItems, MarkerMaxItems:
			n, err := strconv.ParseInt(m.Value, 10, 64)
			if err != nil || n < 0 {
				bad(m, "needs a non-negative integer, found %q", m.Value)
				continue
			}
			switch m.Name {
			case MarkerMinLength:
				s.MinLength = &n
			case MarkerMaxLength:
				s.MaxLength = &n
			case MarkerMinItems:
				s.MinItems = &n
			default:
				s.MaxItems = &n
			}
		case MarkerUniqueItems:
			if b, ok := flag(m); ok {
				uniqueItems = b
			}
		case MarkerListType:
			switch m.Value {
			case "atomic", "set", "map":
				s.XListType = ptr(m.Value)
			default:
				bad(m, "needs one of atomic, set or map, found %q", m.Value)
			}
		case MarkerListMapKey:
			switch {
			case m.Value == "":
				bad(m, "needs the name of a property of the list items, found an empty value")
			case slices.Contains(mapKeys, m.Value):
				bad(m, "names key %q more than once", m.Value)
			default:
				mapKeys = append(mapKeys, m.Value)
			}
		}
	}
	if len(errs) > 0 {
		return false, errs
	}

	def := f.Type
	if s.Minimum != nil && s.Maximum != nil && *s.Minimum > *s.Maximum {
		errs = append(errs, field.Invalid(path, def, fmt.Sprintf("marker \"minimum\" (%v) is greater than marker \"maximum\" (%v)", *s.Minimum, *s.Maximum)))
	}
	if s.MinLength != nil && s.MaxLength != nil && *s.MinLength > *s.MaxLength {
		errs = append(errs, field.Invalid(path, def, fmt.Sprintf("marker \"minLength\" (%d) is greater than marker \"maxLength\" (%d)", *s.MinLength, *s.MaxLength)))
	}
	if s.MinItems != nil && s.MaxItems != nil && *s.MinItems > *s.MaxItems {
		errs = append(errs, field.Invalid(path, def, fmt.Sprintf("marker \"minItems\" (%d) is greater than marker \"maxItems\" (%d)", *s.MinItems, *s.MaxItems)))
	}
	errs = append(errs, checkList(s, uniqueItems, mapKeys, path)...)
	for _, e := range s.Enum {
		v, err := decodeJSON(string(e.Raw))
		if err != nil {
			continue // enum values are produced by parseEnum or come from a checked type
		}
		noEnum := *s
		noEnum.Enum = nil
		if err := validateValue(&noEnum, v, ""); err != nil {
			errs = append(errs, field.Invalid(path, string(e.Raw), fmt.Sprintf("marker \"enum\" value %s does not fit the field: %v", string(e.Raw), err)))
		}
	}
	if defaultMarker != nil && len(errs) == 0 {
		v, err := parseDefault(s, defaultMarker.Value)
		if err != nil {
			bad(*defaultMarker, "%v", err)
		} else if err := validateValue(s, v, ""); err != nil {
			bad(*defaultMarker, "value does not fit the field: %v", err)
		} else if raw, err := json.Marshal(v); err != nil {
			bad(*defaultMarker, "cannot be encoded as JSON: %v", err)
		} else {
			s.Default = &extv1.JSON{Raw: raw}
		}
	}
	if defaultMarker == nil && s.Default != nil && len(f.Markers) > 0 && len(errs) == 0 {
		// The default came with a custom type; the field's markers may not admit it.
		if v, err := decodeJSON(string(s.Default.Raw)); err == nil {
			if err := validateValue(s, v, ""); err != nil {
				errs = append(errs, field.Invalid(path, string(s.Default.Raw),
					fmt.Sprintf("the default of type %q does not fit this field's markers: %v", f.Type, err)))
			}
		}
	}
	if len(errs) == 0 && len(newRules) > 0 {
		errs = append(errs, compileRules(s, newRules, path)...)
	}
	return required, errs
}

// checkList applies uniqueItems, listType and listMapKey to an array schema.
func checkList(s *extv1.JSONSchemaProps, uniqueItems bool, mapKeys []string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if uniqueItems {
		if s.XListType != nil && *s.XListType != "set" {
			errs = append(errs, field.Invalid(path, *s.XListType,
				fmt.Sprintf("marker \"uniqueItems\" needs listType=set (or no listType), found listType=%s", *s.XListType)))
		} else {
			s.XListType = ptr("set")
		}
	}
	if len(mapKeys) > 0 && (s.XListType == nil || *s.XListType != "map") {
		found := "no listType"
		if s.XListType != nil {
			found = "listType=" + *s.XListType
		}
		errs = append(errs, field.Invalid(path, strings.Join(mapKeys, ","),
			fmt.Sprintf("marker \"listMapKey\" needs listType=map, found %s", found)))
		return errs
	}
	if s.XListType == nil {
		return errs
	}
	var items *extv1.JSONSchemaProps
	if s.Items != nil {
		items = s.Items.Schema
	}
	switch *s.XListType {
	case "set":
		if items != nil && !isScalar(items) {
			errs = append(errs, field.Invalid(path, "set",
				fmt.Sprintf("listType=set needs items of a scalar type (string, integer, float, boolean), found %s", typeLabel(items))))
		}
	case "map":
		if items == nil || items.Type != "object" || items.AdditionalProperties != nil || len(items.Properties) == 0 {
			label := "no item type"
			if items != nil {
				label = typeLabel(items)
			}
			errs = append(errs, field.Invalid(path, "map",
				fmt.Sprintf("listType=map needs items that are objects with properties, found %s", label)))
			return errs
		}
		if len(mapKeys) == 0 && len(s.XListMapKeys) == 0 {
			errs = append(errs, field.Required(path, "listType=map needs at least one marker \"listMapKey\" naming a key property of the items"))
			return errs
		}
		for _, k := range mapKeys {
			p, ok := items.Properties[k]
			switch {
			case !ok:
				errs = append(errs, field.Invalid(path, k,
					fmt.Sprintf("marker \"listMapKey\" names %q, which is not a property of the list items (properties: %s)", k, strings.Join(slices.Sorted(maps.Keys(items.Properties)), ", "))))
			case !isScalar(&p):
				errs = append(errs, field.Invalid(path, k,
					fmt.Sprintf("marker \"listMapKey\" key %q must be a scalar (string, integer, float, boolean), found %s", k, typeLabel(&p))))
			case !slices.Contains(items.Required, k) && p.Default == nil:
				errs = append(errs, field.Invalid(path, k,
					fmt.Sprintf("marker \"listMapKey\" key %q must be a required property of the list items (or have a default)", k)))
			}
		}
		if len(mapKeys) > 0 {
			s.XListMapKeys = mapKeys
		}
	}
	return errs
}

func isScalar(s *extv1.JSONSchemaProps) bool {
	switch s.Type {
	case "string", "integer", "number", "boolean":
		return true
	}
	return false
}

func parseBool(v string) (bool, bool) {
	switch v {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

func parseNumber(v string) (float64, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// parseEnum parses a comma-separated enum marker for a string or integer field.
func parseEnum(v, typ string) ([]extv1.JSON, error) {
	if strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("needs a comma-separated list of values, found an empty value")
	}
	var out []extv1.JSON
	seen := map[string]bool{}
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("has an empty value in %q", v)
		}
		var raw []byte
		if typ == "integer" {
			n, err := strconv.ParseInt(item, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("needs integer values on an integer field, found %q", item)
			}
			raw = []byte(strconv.FormatInt(n, 10))
		} else {
			raw, _ = json.Marshal(item)
		}
		if seen[string(raw)] {
			continue
		}
		seen[string(raw)] = true
		out = append(out, extv1.JSON{Raw: raw})
	}
	return out, nil
}

// parseDefault parses a default marker's value for the schema's type.
func parseDefault(s *extv1.JSONSchemaProps, v string) (any, error) {
	switch s.Type {
	case "string":
		return v, nil
	case "integer":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("needs an integer, found %q", v)
		}
		return n, nil
	case "number":
		f, ok := parseNumber(v)
		if !ok {
			return nil, fmt.Errorf("needs a number, found %q", v)
		}
		return f, nil
	case "boolean":
		b, ok := parseBool(v)
		if !ok {
			return nil, fmt.Errorf("needs true or false, found %q", v)
		}
		return b, nil
	default:
		want := "a JSON object"
		if s.Type == "array" {
			want = "a JSON array"
		}
		val, err := decodeJSON(v)
		if err != nil {
			return nil, fmt.Errorf("needs %s, found %q: %w", want, v, err)
		}
		return val, nil
	}
}
