package graph

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	extvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/utils/lru"

	"github.com/korvid/korvid/api/v1alpha1"
)

// compileStatus compiles schema.status and infers its schema from the CEL
// types of its expressions.
func (c *compiler) compileStatus(s *v1alpha1.Schema, p *field.Path) (*statusProgram, map[string]extv1.JSONSchemaProps) {
	m := c.decodeObject(s.Status, p)
	props := map[string]extv1.JSONSchemaProps{}
	if len(m) == 0 {
		return &statusProgram{}, props
	}
	for _, k := range []string{"state"} {
		if _, ok := m[k]; ok {
			c.add(field.Invalid(p.Child(k), k, fmt.Sprintf("status field %q is reserved: korvid sets it on every instance", k)))
			delete(m, k)
		}
	}
	w := &templateWalker{c: c, env: c.env, status: true}
	tree := w.walk(m, nil, p)
	if tree.kind == tmplObject {
		for i, k := range tree.keys {
			props[k] = c.inferSchema(tree.fields[i], 0)
		}
	}
	if _, ok := m["conditions"]; ok {
		props["conditions"] = conditionsSchema()
		if tree.kind == tmplObject {
			for i, k := range tree.keys {
				if k == "conditions" {
					c.checkCustomConditions(tree.fields[i], p.Child("conditions"))
				}
			}
		}
	}
	return &statusProgram{tree: tree}, props
}

// checkCustomConditions refuses, at compile time, author-defined conditions
// that can never work: two entries building the same literal type, and an
// entry whose value reads the very condition it defines
// (runtime.condition(schema, 'X') inside the condition X).
func (c *compiler) checkCustomConditions(t *tmplNode, p *field.Path) {
	type entry struct {
		path *field.Path
		src  string
		e    *celExpr
	}
	var entries []entry
	add := func(n *tmplNode, path *field.Path) {
		if n.kind != tmplExpr || n.val == nil {
			return
		}
		for _, part := range n.val.parts {
			if part.ex != nil {
				entries = append(entries, entry{path, n.val.source, part.ex})
			}
		}
	}
	if t.kind == tmplArray {
		for i, it := range t.items {
			add(it, p.Index(i))
		}
	} else {
		add(t, p)
	}
	definedAt := map[string]string{}
	for _, en := range entries {
		for _, typ := range en.e.conds.Defines {
			if prev, dup := definedAt[typ]; dup {
				c.add(field.Invalid(en.path, en.src, fmt.Sprintf("condition type %q is already defined at %s; each custom condition type may appear once", typ, prev)))
				continue
			}
			definedAt[typ] = en.path.String()
			if slices.Contains(en.e.conds.Reads, typ) {
				c.add(field.Invalid(en.path, en.src, fmt.Sprintf("condition %q reads itself with runtime.condition(schema, %q); a condition cannot depend on its own value", typ, typ)))
			}
		}
	}
}

var preserveUnknown = extv1.JSONSchemaProps{XPreserveUnknownFields: ptrTo(true)}

func ptrTo[T any](v T) *T { return &v }

// inferSchema gives the schema of a compiled status value.
func (c *compiler) inferSchema(t *tmplNode, depth int) extv1.JSONSchemaProps {
	switch t.kind {
	case tmplObject:
		out := extv1.JSONSchemaProps{Type: "object", Properties: map[string]extv1.JSONSchemaProps{}}
		for i, k := range t.keys {
			out.Properties[k] = c.inferSchema(t.fields[i], depth+1)
		}
		return out
	case tmplArray:
		out := extv1.JSONSchemaProps{Type: "array"}
		var items *extv1.JSONSchemaProps
		for _, it := range t.items {
			s := c.inferSchema(it, depth+1)
			if items == nil {
				items = &s
			} else if !equalSchema(*items, s) {
				items = &preserveUnknown
				break
			}
		}
		if items == nil {
			items = &preserveUnknown
		}
		out.Items = &extv1.JSONSchemaPropsOrArray{Schema: items}
		return out
	case tmplExpr:
		if !t.val.standalone {
			return extv1.JSONSchemaProps{Type: "string"}
		}
		return c.schemaOfCELType(t.val.parts[0].ex.out, depth)
	}
	return preserveUnknown
}

func equalSchema(a, b extv1.JSONSchemaProps) bool {
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

const maxInferDepth = 24

func (c *compiler) schemaOfCELType(t *cel.Type, depth int) extv1.JSONSchemaProps {
	if t == nil || depth > maxInferDepth {
		return preserveUnknown
	}
	switch t.Kind() {
	case types.BytesKind, types.DurationKind:
		return extv1.JSONSchemaProps{Type: "string"}
	case types.TimestampKind:
		return extv1.JSONSchemaProps{Type: "string", Format: "date-time"}
	case types.ListKind:
		return listSchema(c.schemaOfCELType(t.Parameters()[0], depth+1))
	case types.MapKind:
		return mapSchema(c.schemaOfCELType(t.Parameters()[1], depth+1))
	case types.StructKind:
		if d, ok := c.env.reg.find(t.TypeName()); ok {
			return schemaOfDecl(d, depth)
		}
		return extv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptrTo(true)}
	case types.OpaqueKind:
		if t.TypeName() == "optional_type" && len(t.Parameters()) == 1 {
			return c.schemaOfCELType(t.Parameters()[0], depth)
		}
	}
	return scalarSchema(t.Kind())
}

func schemaOfDecl(d *apiservercel.DeclType, depth int) extv1.JSONSchemaProps {
	if d == nil || depth > maxInferDepth {
		return preserveUnknown
	}
	switch {
	case d.IsObject():
		out := extv1.JSONSchemaProps{Type: "object", Properties: map[string]extv1.JSONSchemaProps{}}
		for name, f := range d.Fields {
			out.Properties[name] = schemaOfDecl(f.Type, depth+1)
		}
		return out
	case d.IsList():
		return listSchema(schemaOfDecl(d.ElemType, depth+1))
	case d.IsMap():
		return mapSchema(schemaOfDecl(d.ElemType, depth+1))
	}
	return scalarSchema(d.CelType().Kind())
}

// scalarSchema is the schema of a boolean, integer, number or string kind;
// any other kind's is preserveUnknown.
func scalarSchema(k types.Kind) extv1.JSONSchemaProps {
	switch k {
	case types.BoolKind:
		return extv1.JSONSchemaProps{Type: "boolean"}
	case types.IntKind, types.UintKind:
		return extv1.JSONSchemaProps{Type: "integer"}
	case types.DoubleKind:
		return extv1.JSONSchemaProps{Type: "number"}
	case types.StringKind:
		return extv1.JSONSchemaProps{Type: "string"}
	}
	return preserveUnknown
}

func listSchema(items extv1.JSONSchemaProps) extv1.JSONSchemaProps {
	return extv1.JSONSchemaProps{Type: "array", Items: &extv1.JSONSchemaPropsOrArray{Schema: &items}}
}

// mapSchema is the schema of a map whose values have schema v; values of no
// known type leave the map's fields unpruned.
func mapSchema(v extv1.JSONSchemaProps) extv1.JSONSchemaProps {
	if v.Type == "" {
		return extv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptrTo(true)}
	}
	return extv1.JSONSchemaProps{Type: "object", AdditionalProperties: &extv1.JSONSchemaPropsOrBool{Allows: true, Schema: &v}}
}

func conditionsSchema() extv1.JSONSchemaProps {
	str := extv1.JSONSchemaProps{Type: "string"}
	return extv1.JSONSchemaProps{
		Type: "array",
		Items: &extv1.JSONSchemaPropsOrArray{Schema: &extv1.JSONSchemaProps{
			Type: "object",
			Properties: map[string]extv1.JSONSchemaProps{
				"type":               str,
				"status":             str,
				"reason":             str,
				"message":            str,
				"lastTransitionTime": str,
				"observedGeneration": {Type: "integer"},
			},
		}},
	}
}

func defaultPrinterColumns() []extv1.CustomResourceColumnDefinition {
	return []extv1.CustomResourceColumnDefinition{
		{Name: "State", Description: "The state of a ResourceGraphDefinition instance", Type: "string", JSONPath: ".status.state"},
		{Name: "Ready", Description: "Whether a ResourceGraphDefinition instance is ready", Type: "string", JSONPath: `.status.conditions[?(@.type=="Ready")].status`},
		{Name: "Age", Description: "Age of the resource", Type: "date", JSONPath: ".metadata.creationTimestamp"},
	}
}

// buildCRD assembles the CustomResourceDefinition of the generated kind.
func (c *compiler) buildCRD(s *v1alpha1.Schema, statusProps map[string]extv1.JSONSchemaProps) *extv1.CustomResourceDefinition {
	plural := pluralize(c.kind)
	status := extv1.JSONSchemaProps{Type: "object", Properties: maps.Clone(statusProps)}
	status.Properties["state"] = extv1.JSONSchemaProps{Type: "string"}
	if _, ok := status.Properties["conditions"]; !ok {
		status.Properties["conditions"] = conditionsSchema()
	}
	specProps := c.specProps.DeepCopy()
	root := &extv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]extv1.JSONSchemaProps{
			"apiVersion": {Type: "string"},
			"kind":       {Type: "string"},
			"metadata":   {Type: "object"},
			"spec":       *specProps,
			"status":     status,
		},
	}
	if specProps.Default != nil {
		// A spec with defaults must exist for them to apply.
		root.Required = nil
	}
	labels := map[string]string{}
	annotations := map[string]string{}
	if s.Metadata != nil {
		maps.Copy(labels, s.Metadata.Labels)
		maps.Copy(annotations, s.Metadata.Annotations)
	}
	labels[v1alpha1.LabelOwned] = "true"
	labels[v1alpha1.LabelRGDName] = c.rgd.Name
	labels[v1alpha1.LabelRGDID] = string(c.rgd.UID)
	if len(annotations) == 0 {
		annotations = nil
	}
	columns := defaultPrinterColumns()
	if len(s.AdditionalPrinterColumns) > 0 {
		columns = slices.Clone(s.AdditionalPrinterColumns)
	}
	// The columns of printColumn markers come after, as in kro, unless a
	// column already shows their JSON path.
	for _, col := range c.specColumns {
		if !slices.ContainsFunc(columns, func(o extv1.CustomResourceColumnDefinition) bool { return o.JSONPath == col.JSONPath }) {
			columns = append(columns, col)
		}
	}
	scope := extv1.NamespaceScoped
	if c.clusterScoped {
		scope = extv1.ClusterScoped
	}
	return &extv1.CustomResourceDefinition{
		TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        plural + "." + c.group,
			Labels:      labels,
			Annotations: annotations,
		},
		Spec: extv1.CustomResourceDefinitionSpec{
			Group: c.group,
			Names: extv1.CustomResourceDefinitionNames{
				Kind:       c.kind,
				ListKind:   c.kind + "List",
				Plural:     plural,
				Singular:   lower(c.kind),
				ShortNames: slices.Clone(s.ShortNames),
				Categories: slices.Clone(s.Categories),
			},
			Scope: scope,
			Versions: []extv1.CustomResourceDefinitionVersion{{
				Name:                     c.version,
				Served:                   true,
				Storage:                  true,
				Schema:                   &extv1.CustomResourceValidation{OpenAPIV3Schema: root},
				Subresources:             &extv1.CustomResourceSubresources{Status: &extv1.CustomResourceSubresourceStatus{}},
				AdditionalPrinterColumns: columns,
			}},
		},
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch >= 'A' && ch <= 'Z' {
			b[i] = ch + 'a' - 'A'
		}
	}
	return string(b)
}

// validateCRD validates the generated CRD as the API server does on create,
// mapping the errors back to the RGD fields they come from.
func validateCRD(crd *extv1.CustomResourceDefinition, sp *field.Path) field.ErrorList {
	errs, err := crdErrors(crd)
	if err != nil {
		return field.ErrorList{field.InternalError(sp, err)}
	}
	var out field.ErrorList
	for _, e := range errs {
		ne := *e
		ne.Field = mapCRDPath(e.Field, sp)
		ne.Detail = "the generated CustomResourceDefinition would be rejected: " + crdPathNote(e.Field) + e.Detail
		out = append(out, &ne)
	}
	return out
}

func contextBackground() context.Context { return context.Background() }

// validatedCRDs keeps the API server's verdict on recently generated CRDs
// by the SHA-256 of their JSON: RGD admission compiles every RGD it is
// shown, mostly versions whose CRD has not changed, and the validation is
// a pure function of the CRD. The error lists are shared read-only.
var validatedCRDs = lru.New(256)

// crdErrors validates crd as the API server does on create, or returns the
// verdict on the same CRD from before; converting it to the internal form
// the validation reads is done only when it is validated.
func crdErrors(crd *extv1.CustomResourceDefinition) (field.ErrorList, error) {
	var key *[sha256.Size]byte
	if data, err := json.Marshal(crd); err == nil {
		sum := sha256.Sum256(data)
		key = &sum
		if errs, ok := validatedCRDs.Get(sum); ok {
			return errs.(field.ErrorList), nil
		}
	}
	internal := &apiextensions.CustomResourceDefinition{}
	if err := extv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, internal, nil); err != nil {
		return nil, fmt.Errorf("converting the generated CRD: %w", err)
	}
	for _, v := range internal.Spec.Versions {
		if v.Storage {
			internal.Status.StoredVersions = []string{v.Name}
		}
	}
	errs := extvalidation.ValidateCustomResourceDefinition(contextBackground(), internal)
	if key != nil {
		validatedCRDs.Add(*key, errs)
	}
	return errs, nil
}

// mapCRDPath translates a field of the generated CRD into the RGD field it
// comes from.
func mapCRDPath(p string, sp *field.Path) string {
	p = strings.Replace(p, "spec.validation.openAPIV3Schema", "spec.versions[0].schema.openAPIV3Schema", 1)
	p = strings.Replace(p, "spec.additionalPrinterColumns", "spec.versions[0].additionalPrinterColumns", 1)
	p = strings.Replace(p, ".JSONPath", ".jsonPath", 1)
	const schemaRoot = "spec.versions[0].schema.openAPIV3Schema"
	switch {
	case strings.HasPrefix(p, schemaRoot):
		rest := strings.TrimPrefix(p, schemaRoot)
		rest = strings.ReplaceAll(rest, ".properties[", ".")
		rest = strings.ReplaceAll(rest, "].", ".")
		rest = strings.TrimSuffix(rest, "]")
		rest = strings.ReplaceAll(rest, ".items", "[*]")
		return sp.String() + rest
	case strings.HasPrefix(p, "spec.versions[0].additionalPrinterColumns"):
		return sp.Child("additionalPrinterColumns").String() + strings.TrimPrefix(p, "spec.versions[0].additionalPrinterColumns")
	case strings.HasPrefix(p, "spec.names.shortNames"):
		return sp.Child("shortNames").String() + strings.TrimPrefix(p, "spec.names.shortNames")
	case strings.HasPrefix(p, "spec.names.categories"):
		return sp.Child("categories").String() + strings.TrimPrefix(p, "spec.names.categories")
	case strings.HasPrefix(p, "spec.group"):
		return sp.Child("group").String()
	case strings.HasPrefix(p, "spec.versions"), strings.HasPrefix(p, "spec.version"):
		return sp.Child("apiVersion").String()
	case strings.HasPrefix(p, "metadata.labels"):
		return sp.Child("metadata", "labels").String()
	case strings.HasPrefix(p, "metadata.annotations"):
		return sp.Child("metadata", "annotations").String()
	}
	return sp.Child("kind").String()
}

func crdPathNote(p string) string {
	return p + ": "
}
