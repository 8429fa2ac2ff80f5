// Package schemadiff finds the breaking changes between two versions of a
// generated instance schema, so an RGD update that would invalidate existing
// instances is refused unless the RGD carries the
// kro.run/allow-breaking-changes annotation.
//
// A change is breaking when an instance valid under the old schema may be
// invalid, or lose data, under the new one: a property removed, a type
// changed, a field newly required, a default removed from a required field,
// an enum restricted, a pattern added or changed, a lower bound
// (minimum/minLength/minItems) added or raised, an upper bound
// (maximum/maxLength/maxItems) added or lowered, unknown or arbitrary keys no
// longer kept, or a list made a set or map. Additions of optional fields,
// relaxed bounds and description changes are not breaking.
package schemadiff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// Change is one breaking difference between two versions of an instance schema.
type Change struct {
	// Path is the field, e.g. spec.ports[*].name (array items and map
	// values are written [*]).
	Path string
	// Description says what changed, e.g. "type changed from integer to string".
	Description string
}

// String renders the change as "path: description".
func (c Change) String() string { return c.Path + ": " + c.Description }

// Breaking lists the breaking changes from old to new, sorted by path. Both
// are schemas of the instance spec (the `spec` property of the CRD version
// schema, as simpleschema.ToOpenAPI returns it); paths start with "spec".
func Breaking(old, new *extv1.JSONSchemaProps) []Change {
	return BreakingAt("spec", old, new)
}

// BreakingAt is Breaking with paths rooted at root instead of "spec", e.g.
// "" to compare whole CRD version schemas.
func BreakingAt(root string, old, new *extv1.JSONSchemaProps) []Change {
	d := &differ{}
	d.compare(root, old, new)
	slices.SortStableFunc(d.changes, func(a, b Change) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Description, b.Description)
	})
	return d.changes
}

type differ struct {
	changes []Change
}

func (d *differ) add(path, format string, args ...any) {
	d.changes = append(d.changes, Change{Path: path, Description: fmt.Sprintf(format, args...)})
}

func child(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// typeName names a schema type the way SimpleSchema users write it.
func typeName(s *extv1.JSONSchemaProps) string {
	switch s.Type {
	case "number":
		return "float"
	case "":
		return "any"
	}
	return s.Type
}

func (d *differ) compare(path string, old, new *extv1.JSONSchemaProps) {
	if old == nil {
		return
	}
	if new == nil {
		d.add(path, "schema removed")
		return
	}
	if old.Type != new.Type {
		d.add(path, "type changed from %s to %s", typeName(old), typeName(new))
		return
	}
	if isTrue(old.XPreserveUnknownFields) && !isTrue(new.XPreserveUnknownFields) {
		d.add(path, "unknown fields are no longer kept")
	}
	d.compareEnum(path, old, new)
	switch {
	case new.Pattern != "" && old.Pattern == "":
		d.add(path, "pattern %q added", new.Pattern)
	case new.Pattern != "" && new.Pattern != old.Pattern:
		d.add(path, "pattern changed from %q to %q", old.Pattern, new.Pattern)
	}
	lowerFloat(d, path, "minimum", old.Minimum, new.Minimum)
	upperFloat(d, path, "maximum", old.Maximum, new.Maximum)
	if new.ExclusiveMinimum && !old.ExclusiveMinimum && new.Minimum != nil {
		d.add(path, "minimum %s made exclusive", formatFloat(*new.Minimum))
	}
	if new.ExclusiveMaximum && !old.ExclusiveMaximum && new.Maximum != nil {
		d.add(path, "maximum %s made exclusive", formatFloat(*new.Maximum))
	}
	lowerInt(d, path, "minLength", old.MinLength, new.MinLength)
	upperInt(d, path, "maxLength", old.MaxLength, new.MaxLength)
	lowerInt(d, path, "minItems", old.MinItems, new.MinItems)
	upperInt(d, path, "maxItems", old.MaxItems, new.MaxItems)
	lowerInt(d, path, "minProperties", old.MinProperties, new.MinProperties)
	upperInt(d, path, "maxProperties", old.MaxProperties, new.MaxProperties)
	d.compareList(path, old, new)

	for _, name := range slices.Sorted(maps.Keys(old.Properties)) {
		o := old.Properties[name]
		n, ok := new.Properties[name]
		if !ok {
			switch {
			case new.AdditionalProperties != nil && new.AdditionalProperties.Schema != nil:
				d.compare(child(path, name), &o, new.AdditionalProperties.Schema)
			case new.AdditionalProperties == nil && !isTrue(new.XPreserveUnknownFields):
				d.add(child(path, name), "property removed")
			}
			continue
		}
		d.compare(child(path, name), &o, &n)
	}
	for _, name := range sortedStrings(new.Required) {
		switch {
		case !slices.Contains(old.Required, name):
			d.add(child(path, name), "field is now required")
		case old.Properties[name].Default != nil && new.Properties[name].Default == nil:
			d.add(child(path, name), "default removed from a required field")
		}
	}

	if old.Items != nil && old.Items.Schema != nil {
		var items *extv1.JSONSchemaProps
		if new.Items != nil {
			items = new.Items.Schema
		}
		d.compare(path+"[*]", old.Items.Schema, items)
	}
	if old.AdditionalProperties != nil {
		switch {
		case new.AdditionalProperties == nil && !isTrue(new.XPreserveUnknownFields):
			d.add(path, "arbitrary keys are no longer accepted")
		case new.AdditionalProperties != nil && old.AdditionalProperties.Schema != nil:
			d.compare(path+"[*]", old.AdditionalProperties.Schema, new.AdditionalProperties.Schema)
		}
	}
}

func (d *differ) compareEnum(path string, old, new *extv1.JSONSchemaProps) {
	if len(new.Enum) == 0 {
		return
	}
	if len(old.Enum) == 0 {
		d.add(path, "enum added: only %s allowed", joinJSON(new.Enum))
		return
	}
	var removed []extv1.JSON
	for _, o := range old.Enum {
		if !slices.ContainsFunc(new.Enum, func(n extv1.JSON) bool { return sameJSON(o.Raw, n.Raw) }) {
			removed = append(removed, o)
		}
	}
	if len(removed) == 1 {
		d.add(path, "enum value %s removed", joinJSON(removed))
	} else if len(removed) > 1 {
		d.add(path, "enum values %s removed", joinJSON(removed))
	}
}

func (d *differ) compareList(path string, old, new *extv1.JSONSchemaProps) {
	oldType, newType := listType(old), listType(new)
	if oldType != newType && newType != "atomic" {
		d.add(path, "list type changed from %s to %s", oldType, newType)
		return
	}
	if newType == "map" && !slices.Equal(old.XListMapKeys, new.XListMapKeys) {
		d.add(path, "list map keys changed from [%s] to [%s]", strings.Join(old.XListMapKeys, ", "), strings.Join(new.XListMapKeys, ", "))
	}
}

func listType(s *extv1.JSONSchemaProps) string {
	if s.Type != "array" {
		return ""
	}
	if s.XListType == nil {
		return "atomic"
	}
	return *s.XListType
}

func lowerFloat(d *differ, path, name string, old, new *float64) {
	switch {
	case new == nil:
	case old == nil:
		d.add(path, "%s %s added", name, formatFloat(*new))
	case *new > *old:
		d.add(path, "%s raised from %s to %s", name, formatFloat(*old), formatFloat(*new))
	}
}

func upperFloat(d *differ, path, name string, old, new *float64) {
	switch {
	case new == nil:
	case old == nil:
		d.add(path, "%s %s added", name, formatFloat(*new))
	case *new < *old:
		d.add(path, "%s lowered from %s to %s", name, formatFloat(*old), formatFloat(*new))
	}
}

func lowerInt(d *differ, path, name string, old, new *int64) {
	switch {
	case new == nil:
	case old == nil:
		d.add(path, "%s %d added", name, *new)
	case *new > *old:
		d.add(path, "%s raised from %d to %d", name, *old, *new)
	}
}

func upperInt(d *differ, path, name string, old, new *int64) {
	switch {
	case new == nil:
	case old == nil:
		d.add(path, "%s %d added", name, *new)
	case *new < *old:
		d.add(path, "%s lowered from %d to %d", name, *old, *new)
	}
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func isTrue(b *bool) bool { return b != nil && *b }

// sameJSON compares two JSON values ignoring formatting.
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var av, bv any
	if json.Unmarshal(a, &av) != nil || json.Unmarshal(b, &bv) != nil {
		return false
	}
	ac, _ := json.Marshal(av)
	bc, _ := json.Marshal(bv)
	return bytes.Equal(ac, bc)
}

func joinJSON(values []extv1.JSON) string {
	parts := make([]string, 0, len(values))
	for _, v := range values {
		parts = append(parts, string(v.Raw))
	}
	return strings.Join(parts, ", ")
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
