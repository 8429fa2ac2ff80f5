package simpleschema

import (
	"fmt"
	"strings"
)

// Marker names, spelled as users write them.
const (
	MarkerRequired    = "required"
	MarkerDefault     = "default"
	MarkerDescription = "description"
	MarkerMinimum     = "minimum"
	MarkerMaximum     = "maximum"
	MarkerEnum        = "enum"
	MarkerImmutable   = "immutable"
	MarkerValidation  = "validation"
	MarkerPattern     = "pattern"
	MarkerMinLength   = "minLength"
	MarkerMaxLength   = "maxLength"
	MarkerUniqueItems = "uniqueItems"
	MarkerMinItems    = "minItems"
	MarkerMaxItems    = "maxItems"
	MarkerListType    = "listType"
	MarkerListMapKey  = "listMapKey"
	// MarkerPrintColumn shows the field as a printer column of the
	// generated CRD, titled with the marker's value.
	MarkerPrintColumn = "printColumn"
)

// knownMarkers lists every marker and whether it may be given more than once.
var knownMarkers = map[string]bool{
	MarkerRequired:    false,
	MarkerDefault:     false,
	MarkerDescription: false,
	MarkerMinimum:     false,
	MarkerMaximum:     false,
	MarkerEnum:        false,
	MarkerImmutable:   false,
	MarkerValidation:  false,
	MarkerPattern:     false,
	MarkerMinLength:   false,
	MarkerMaxLength:   false,
	MarkerUniqueItems: false,
	MarkerMinItems:    false,
	MarkerMaxItems:    false,
	MarkerListType:    false,
	MarkerListMapKey:  true,
	MarkerPrintColumn: false,
}

// Marker is one `name=value` pair of a field definition. Value has its
// quotes removed and `\"` unescaped; `{...}` and `[...]` values are kept
// verbatim, brackets included.
type Marker struct {
	Name  string
	Value string
}

// Field is a parsed field definition: a type expression and its markers in
// the order they were written.
type Field struct {
	Type    string
	Markers []Marker
}

// Marker returns the value of the first marker with the given name.
func (f *Field) Marker(name string) (string, bool) {
	for _, m := range f.Markers {
		if m.Name == name {
			return m.Value, true
		}
	}
	return "", false
}

// ParseField parses one field definition such as
// `string | required=true default="a b" enum="x,y"`.
//
// The type comes before the first `|`; markers follow, separated by spaces.
// A value may be quoted ("..." with `\"` for a literal quote) or grouped with
// balanced {} or [] (so JSON defaults need no quotes). Unknown and repeated
// markers are errors (only listMapKey may repeat).
func ParseField(s string) (*Field, error) {
	typePart, markerPart, hasMarkers := strings.Cut(s, "|")
	typ := strings.TrimSpace(typePart)
	if typ == "" {
		return nil, fmt.Errorf("missing type before the markers in %q", s)
	}
	if strings.ContainsFunc(typ, isSpace) {
		return nil, fmt.Errorf("type %q must not contain spaces (markers go after a single |)", typ)
	}
	f := &Field{Type: typ}
	if !hasMarkers {
		return f, nil
	}
	if strings.TrimSpace(markerPart) == "" {
		return nil, fmt.Errorf("expected markers after | in %q", s)
	}
	markers, err := parseMarkers(markerPart)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, m := range markers {
		repeatable, known := knownMarkers[m.Name]
		if !known {
			return nil, fmt.Errorf("unknown marker %q (known markers: %s)", m.Name, knownMarkerList())
		}
		if seen[m.Name] && !repeatable {
			return nil, fmt.Errorf("marker %q is given more than once", m.Name)
		}
		seen[m.Name] = true
	}
	f.Markers = markers
	return f, nil
}

func knownMarkerList() string {
	return "required, default, description, minimum, maximum, enum, immutable, validation, " +
		"pattern, minLength, maxLength, uniqueItems, minItems, maxItems, listType, listMapKey, printColumn"
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

// parseMarkers splits `a=1 b="x y" c={"k":[1]}` into markers.
func parseMarkers(s string) ([]Marker, error) {
	var out []Marker
	i := 0
	for {
		for i < len(s) && isSpace(rune(s[i])) {
			i++
		}
		if i >= len(s) {
			return out, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && !isSpace(rune(s[i])) {
			i++
		}
		name := s[start:i]
		if i >= len(s) || s[i] != '=' {
			return nil, fmt.Errorf("marker %q has no value: write %s=<value>", name, name)
		}
		if name == "" {
			return nil, fmt.Errorf("marker without a name at %q", s[start:])
		}
		i++ // '='
		value, next, err := parseValue(s, i)
		if err != nil {
			return nil, fmt.Errorf("marker %q: %w", name, err)
		}
		if next < len(s) && !isSpace(rune(s[next])) {
			return nil, fmt.Errorf("marker %q: expected a space after the value, found %q", name, s[next:])
		}
		out = append(out, Marker{Name: name, Value: value})
		i = next
	}
}

// parseValue reads one marker value starting at s[i] and returns it with the
// index just past it.
func parseValue(s string, i int) (string, int, error) {
	if i >= len(s) {
		return "", i, nil
	}
	switch s[i] {
	case '"':
		var b strings.Builder
		for j := i + 1; j < len(s); j++ {
			switch {
			case s[j] == '\\' && j+1 < len(s) && s[j+1] == '"':
				b.WriteByte('"')
				j++
			case s[j] == '"':
				return b.String(), j + 1, nil
			default:
				b.WriteByte(s[j])
			}
		}
		return "", len(s), fmt.Errorf("unterminated quoted value %s", s[i:])
	case '{', '[':
		var stack []byte
		inString := false
		for j := i; j < len(s); j++ {
			c := s[j]
			if inString {
				if c == '\\' && j+1 < len(s) {
					j++
				} else if c == '"' {
					inString = false
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '{':
				stack = append(stack, '}')
			case '[':
				stack = append(stack, ']')
			case '}', ']':
				if len(stack) == 0 || stack[len(stack)-1] != c {
					return "", j, fmt.Errorf("unbalanced %q in value %s", string(c), s[i:])
				}
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return s[i : j+1], j + 1, nil
				}
			}
		}
		return "", len(s), fmt.Errorf("unclosed %q in value %s", string(s[i]), s[i:])
	default:
		j := i
		for j < len(s) && !isSpace(rune(s[j])) {
			j++
		}
		return s[i:j], j, nil
	}
}
