package simpleschema

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	celschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
)

// MaxRuleCost is the largest estimated cost one validation rule may have; it
// is the API server's own limit for a CRD validation rule.
const MaxRuleCost = 10 * celconfig.PerCallLimit

// toStructural converts a v1 schema into the API server's structural form.
func toStructural(s *extv1.JSONSchemaProps) (*schema.Structural, error) {
	internal := &apiextensions.JSONSchemaProps{}
	if err := extv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(s, internal, nil); err != nil {
		return nil, fmt.Errorf("converting schema: %w", err)
	}
	ss, err := schema.NewStructural(internal)
	if err != nil {
		return nil, fmt.Errorf("building structural schema: %w", err)
	}
	return ss, nil
}

// compileRules compiles the given validation rules against the field's
// schema, the way the API server compiles x-kubernetes-validations.
func compileRules(s *extv1.JSONSchemaProps, rules []string, path *field.Path) field.ErrorList {
	ss, err := toStructural(s)
	if err != nil {
		return field.ErrorList{field.InternalError(path, err)}
	}
	only := *ss
	only.XValidations = make(extv1.ValidationRules, 0, len(rules))
	for _, r := range rules {
		only.XValidations = append(only.XValidations, extv1.ValidationRule{Rule: r})
	}
	decl := model.SchemaDeclType(&only, false)
	results, err := celschema.Compile(&only, decl, celconfig.PerCallLimit,
		environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()), celschema.NewExpressionsEnvLoader())
	if err != nil {
		return field.ErrorList{field.Invalid(path, rules[0], fmt.Sprintf("marker \"validation\" cannot be compiled against a %s field: %v", typeLabel(s), err))}
	}
	var errs field.ErrorList
	for i, r := range results {
		switch {
		case r.Error != nil:
			errs = append(errs, field.Invalid(path, rules[i], fmt.Sprintf("marker \"validation\" rule does not compile against a %s field: %s", typeLabel(s), r.Error.Detail)))
		case r.MaxCost > MaxRuleCost:
			errs = append(errs, field.Invalid(path, rules[i], fmt.Sprintf("marker \"validation\" rule has an estimated cost of %d, more than the limit %d; bound list and string sizes with maxItems/maxLength", r.MaxCost, uint64(MaxRuleCost))))
		}
	}
	return errs
}

// checkStructural guards against generating a schema the API server would
// reject as non-structural.
func checkStructural(s *extv1.JSONSchemaProps, path *field.Path) field.ErrorList {
	ss, err := toStructural(s)
	if err != nil {
		return field.ErrorList{field.InternalError(path, err)}
	}
	var errs field.ErrorList
	for _, e := range schema.ValidateStructural(nil, ss) {
		errs = append(errs, field.InternalError(path, fmt.Errorf("generated schema is not structural: %s", e.Error())))
	}
	if len(errs) > 0 {
		return errs
	}
	// Defaults were checked against everything but validation rules as they
	// were written; run the rules on them the way the API server does (this
	// builds CEL programs, so only when there is something to check).
	hasDefault, hasRule := scan(s)
	if !hasDefault || !hasRule {
		return nil
	}
	// The rules' fixed message ("validation failed") would hide which rule a
	// default breaks; check against the rules without it.
	plain := s.DeepCopy()
	stripValidationMessages(plain)
	pss, err := toStructural(plain)
	if err != nil {
		return field.ErrorList{field.InternalError(path, err)}
	}
	defaultErrs, err := defaulting.ValidateDefaults(context.Background(), path, pss, false, true)
	if err != nil {
		return append(errs, field.InternalError(path, fmt.Errorf("validating defaults: %w", err)))
	}
	for _, e := range defaultErrs {
		e.Field = schemaPathToFieldPath(e.Field)
		errs = append(errs, e)
	}
	return errs
}

// stripValidationMessages drops the message of the rules the validation
// marker added, in place.
func stripValidationMessages(s *extv1.JSONSchemaProps) {
	if s == nil {
		return
	}
	for i := range s.XValidations {
		if s.XValidations[i].Message == ValidationMessage {
			s.XValidations[i].Message = ""
		}
	}
	for k, p := range s.Properties {
		stripValidationMessages(&p)
		s.Properties[k] = p
	}
	if s.Items != nil {
		stripValidationMessages(s.Items.Schema)
	}
	if s.AdditionalProperties != nil {
		stripValidationMessages(s.AdditionalProperties.Schema)
	}
}

var (
	propertiesSegment = regexp.MustCompile(`\.properties\[([^\]]*)\]`)
	itemsSegment      = regexp.MustCompile(`\.(items|additionalProperties)`)
)

// schemaPathToFieldPath turns a path into the schema
// (spec.properties[a].items.default) into the path of the field a user wrote
// (spec.a[*]).
func schemaPathToFieldPath(p string) string {
	p = strings.TrimSuffix(p, ".default")
	p = propertiesSegment.ReplaceAllString(p, ".$1")
	return itemsSegment.ReplaceAllString(p, "[*]")
}

// scan reports whether the schema has a default and a validation rule other
// than the immutable rule (which only runs on updates).
func scan(s *extv1.JSONSchemaProps) (hasDefault, hasRule bool) {
	if s == nil {
		return false, false
	}
	hasDefault = s.Default != nil
	for _, r := range s.XValidations {
		hasRule = hasRule || r.Rule != ImmutableRule
	}
	visit := func(c *extv1.JSONSchemaProps) {
		d, r := scan(c)
		hasDefault, hasRule = hasDefault || d, hasRule || r
	}
	for _, p := range s.Properties {
		visit(&p)
	}
	if s.Items != nil {
		visit(s.Items.Schema)
	}
	if s.AdditionalProperties != nil {
		visit(s.AdditionalProperties.Schema)
	}
	return hasDefault, hasRule
}
