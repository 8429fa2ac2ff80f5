// Package simpleschema turns kro's SimpleSchema (the `spec` and `types` of a
// ResourceGraphDefinition's schema) into a structural OpenAPI v3 schema for
// the generated CustomResourceDefinition.
//
// A field is written as `<type> | marker=value ...`: the type is string,
// integer, boolean, float, object, []T, map[string]T or the name of a custom
// type; the markers (required, default, description, minimum, maximum, enum,
// immutable, validation, pattern, minLength, maxLength, uniqueItems, minItems,
// maxItems, listType, listMapKey) add constraints. A nested map is an object
// with those properties. Every problem is reported as a field.Error naming the
// field it is about; conversion never stops at the first error.
package simpleschema
