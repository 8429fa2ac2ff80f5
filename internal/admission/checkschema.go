package admission

import (
	"errors"
	"strings"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
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
func (c *Compiled) checkValidators() []*validate.SchemaValidator {
	c.checkOnce.Do(func() {
		out := make([]*validate.SchemaValidator, len(c.Graph.Nodes))
		for i, n := range c.Graph.Nodes {
			if n.Schema == nil || n.External {
				continue
			}
			s := n.Schema
			if tmpl := c.literalTemplate(n.Index); tmpl != nil {
				s = narrowSchema(n.Schema, tmpl, "")
			}
			out[i] = validate.NewSchemaValidator(s, nil, "", strfmt.Default)
		}
		c.checks = out
	})
	return c.checks
}

// literalTemplate decodes the template at index as the renderer sees its
// literals (integers as int64), or nil.
func (c *Compiled) literalTemplate(index int) map[string]any {
	if c.RGD == nil || index < 0 || index >= len(c.RGD.Spec.Resources) {
		return nil
	}
	res := c.RGD.Spec.Resources[index]
	if res == nil || len(res.Template.Raw) == 0 {
		return nil
	}
	var m map[string]any
	if utiljson.Unmarshal(res.Template.Raw, &m) != nil {
		return nil
	}
	return m
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

// newCompiled builds a Compiled; the validators are built on first use.
func newCompiled(g *graph.Graph, rgd *v1alpha1.ResourceGraphDefinition) *Compiled {
	return &Compiled{Graph: g, RGD: rgd, templates: decodeTemplates(rgd)}
}
