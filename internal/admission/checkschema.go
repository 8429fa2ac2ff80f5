package admission

import (
	"errors"
	"slices"
	"strings"

	"github.com/korvid/korvid/internal/registry"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
)

// Instance admission validates every rendered object against its kind's
// schema. Most of a template is literal and renders the same for every
// instance; validating those parts on each request walks large schemas
// (a Deployment's pod spec) for nothing. checkValidators narrows each node's
// schema once per compiled graph to the parts an instance can change, plus
// the literal parts that fail the schema (their errors keep being reported
// as before), and builds one validator per node for all requests.

// checkValidators returns, by node position in the graph, the validator of
// rendered objects (nil when the node has no schema).
func checkValidators(c *registry.Compiled) []*validate.SchemaValidator {
	return c.Validators(buildValidators)
}

func buildValidators(c *registry.Compiled) []*validate.SchemaValidator {
	out := make([]*validate.SchemaValidator, len(c.Graph.Nodes))
	for i, n := range c.Graph.Nodes {
		if n.Schema == nil || n.External {
			continue
		}
		s := withoutIntOrStringFormat(n.Schema)
		if tmpl := c.Template(n.Index); tmpl != nil {
			s = narrowSchema(s, tmpl, "")
		}
		out[i] = validate.NewSchemaValidator(s, nil, "", strfmt.Default)
	}
	return out
}

// addedByRenderer are the fields the renderer may set that a template does
// not spell out (the namespace of namespaced objects).
var addedByRenderer = map[string]bool{"metadata": true, "metadata.namespace": true}

// narrowSchema returns s without the properties whose template value is a
// literal that satisfies s; what remains validates the same rendered values
// with the same errors. Levels whose validity depends on more than their
// own properties (additional or pattern properties, combinators) are kept
// whole.
func narrowSchema(s *spec.Schema, tmpl any, path string) *spec.Schema {
	m, ok := tmpl.(map[string]any)
	if s == nil || !ok || len(s.Properties) == 0 || s.AdditionalProperties != nil || len(s.PatternProperties) > 0 ||
		len(s.AllOf) > 0 || len(s.AnyOf) > 0 || len(s.OneOf) > 0 || s.Not != nil {
		return s
	}
	for k := range m {
		if strings.Contains(k, "${") {
			return s // rendered keys are known only per instance
		}
	}
	out := *s
	out.Properties = make(map[string]spec.Schema, len(m))
	for name, sub := range s.Properties {
		p := name
		if path != "" {
			p = path + "." + name
		}
		v, present := m[name]
		switch {
		case !present:
			if addedByRenderer[p] {
				out.Properties[name] = sub
			}
		case hasExpression(v):
			out.Properties[name] = *narrowSchema(&sub, v, p)
		case !literalValid(&sub, v):
			out.Properties[name] = sub
		}
	}
	return &out
}

// hasExpression reports whether a template value holds a ${...} expression.
func hasExpression(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, "${")
	case map[string]any:
		for k, e := range x {
			if strings.Contains(k, "${") || hasExpression(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasExpression(e) {
				return true
			}
		}
	}
	return false
}

// literalValid reports whether a literal passes s, with the errors
// checkRendered ignores (missing required fields) ignored.
func literalValid(s *spec.Schema, v any) bool {
	res := validate.NewSchemaValidator(s, nil, "", strfmt.Default).Validate(v)
	if res == nil {
		return true
	}
	for _, e := range res.Errors {
		var ve *openapierrors.Validation
		if !errors.As(e, &ve) || ve.Code() == openapierrors.RequiredFailCode {
			continue
		}
		return false
	}
	return true
}

// withoutIntOrStringFormat returns s with the "int-or-string" format removed
// wherever it appears. The API server publishes IntOrString fields (a
// Service's targetPort, a Deployment's maxSurge) as that format plus
// oneOf integer|string; kube-openapi's validator does not know the format
// and rejects integers for it, while the oneOf alone says exactly what the
// field accepts. Only the levels on the way to a change are copied.
func withoutIntOrStringFormat(s *spec.Schema) *spec.Schema {
	if out, changed := stripIntOrString(s); changed {
		return out
	}
	return s
}

func stripIntOrString(s *spec.Schema) (*spec.Schema, bool) {
	if s == nil {
		return nil, false
	}
	out := *s
	changed := false
	if out.Format == "int-or-string" {
		out.Format = ""
		changed = true
	}
	if len(s.Properties) > 0 {
		props := make(map[string]spec.Schema, len(s.Properties))
		propsChanged := false
		for name, sub := range s.Properties {
			if c, ok := stripIntOrString(&sub); ok {
				props[name] = *c
				propsChanged = true
			} else {
				props[name] = sub
			}
		}
		if propsChanged {
			out.Properties = props
			changed = true
		}
	}
	if s.Items != nil {
		if s.Items.Schema != nil {
			if c, ok := stripIntOrString(s.Items.Schema); ok {
				out.Items = &spec.SchemaOrArray{Schema: c}
				changed = true
			}
		}
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		if c, ok := stripIntOrString(s.AdditionalProperties.Schema); ok {
			out.AdditionalProperties = &spec.SchemaOrBool{Allows: s.AdditionalProperties.Allows, Schema: c}
			changed = true
		}
	}
	for _, list := range []*[]spec.Schema{&out.AllOf, &out.AnyOf, &out.OneOf} {
		var copied []spec.Schema
		for i := range *list {
			if c, ok := stripIntOrString(&(*list)[i]); ok {
				if copied == nil {
					copied = slices.Clone(*list)
				}
				copied[i] = *c
			}
		}
		if copied != nil {
			*list = copied
			changed = true
		}
	}
	return &out, changed
}
