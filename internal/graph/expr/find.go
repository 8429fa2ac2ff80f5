package expr

import (
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Found is one string leaf holding at least one expression.
type Found struct {
	// Path is the field path of the leaf.
	Path *field.Path
	// Value is the parsed leaf.
	Value Value
}

// Find walks a decoded YAML/JSON value (map[string]any, []any and scalars)
// and returns every string leaf that holds at least one expression, in a
// deterministic order (map keys sorted, list elements in order). Map keys
// are children (path.Child), list elements indexes (path.Index). Leaves that
// cannot be parsed are reported as field.Invalid errors at their path; the
// walk continues past them.
func Find(v any, path *field.Path) ([]Found, field.ErrorList) {
	var out []Found
	var errs field.ErrorList
	Walk(v, path, func(p *field.Path, val Value) {
		out = append(out, Found{Path: p, Value: val})
	}, &errs)
	return out, errs
}

// Walk is Find with a callback: fn is called for every string leaf holding at
// least one expression. Parse failures are appended to errs when it is not
// nil.
func Walk(v any, path *field.Path, fn func(path *field.Path, val Value), errs *field.ErrorList) {
	switch t := v.(type) {
	case string:
		val, err := Parse(t)
		if err != nil {
			if errs != nil {
				*errs = append(*errs, field.Invalid(path, t, err.Error()))
			}
			return
		}
		if val.HasExpressions() {
			fn(path, val)
		}
	case map[string]any:
		walkMap(t, path, fn, errs)
	case []any:
		for i, e := range t {
			Walk(e, path.Index(i), fn, errs)
		}
	case []string:
		for i, e := range t {
			Walk(e, path.Index(i), fn, errs)
		}
	case map[string]string:
		walkMap(t, path, fn, errs)
	}
}

// walkMap walks the values of m in key order, so errors and callbacks come
// out the same on every run.
func walkMap[V any](m map[string]V, path *field.Path, fn func(path *field.Path, val Value), errs *field.ErrorList) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		Walk(m[k], path.Child(k), fn, errs)
	}
}
