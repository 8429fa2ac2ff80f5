package graph

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/gobuffalo/flect"
	"github.com/google/cel-go/cel"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph/simpleschema"
)

var (
	idPattern         = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	kindPattern       = regexp.MustCompile(`^[A-Z][a-zA-Z0-9]{0,62}$`)
	apiVersionPattern = regexp.MustCompile(`^v[0-9]+(alpha[0-9]+|beta[0-9]+)?$`)
	iteratorPattern   = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// reservedNames may not be used as resource ids or iterator names.
var reservedNames = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`apiVersion context dependency dependencies each externalRef
		externalReference externalRefs externalReferences graph instance item items kind kro metadata
		namespace object resource resourcegraphdefinition resourceGraphDefinition resources root runtime
		schema self serviceAccountName spec status this variables vars version
		true false null in as break const continue else for function if import let loop package
		return var void while`) {
		reservedNames[n] = true
	}
}

const (
	varSchema = "schema"
	varEach   = "each"
)

// Compile turns an RGD into a compiled graph, or returns every error found,
// each naming the field it is about. It is deterministic and never panics.
func Compile(rgd *v1alpha1.ResourceGraphDefinition, resolver SchemaResolver, opts Options) (g *Graph, errs field.ErrorList) {
	defer func() {
		if r := recover(); r != nil {
			g = nil
			errs = append(errs, field.InternalError(field.NewPath("spec"), fmt.Errorf("compiler failure: %v", r)))
		}
	}()
	if rgd == nil {
		return nil, field.ErrorList{field.Required(field.NewPath("spec"), "a ResourceGraphDefinition is required")}
	}
	if resolver == nil {
		return nil, field.ErrorList{field.InternalError(field.NewPath("spec"), fmt.Errorf("no schema resolver"))}
	}
	if opts.MaxCollectionSize <= 0 {
		opts.MaxCollectionSize = DefaultOptions().MaxCollectionSize
	}
	c := &compiler{rgd: rgd, resolver: resolver, opts: opts}
	return c.run()
}

type compiler struct {
	rgd      *v1alpha1.ResourceGraphDefinition
	resolver SchemaResolver
	opts     Options
	errs     field.ErrorList

	group, version, kind string
	clusterScoped        bool
	specProps            *extv1.JSONSchemaProps
	specColumns          []extv1.CustomResourceColumnDefinition // from printColumn markers
	instanceSchema       *spec.Schema

	nodes []*nodeCtx
	byID  map[string]*nodeCtx
	env   *graphEnv
}

// nodeCtx is a resource while it is being compiled.
type nodeCtx struct {
	node     *Node
	res      *v1alpha1.Resource
	path     *field.Path
	template map[string]any
	valid    bool // the node's kind resolved; its expressions can be typed
	decl     *apiservercel.DeclType
	deps     map[string]bool
}

func (c *compiler) add(err ...*field.Error) { c.errs = append(c.errs, err...) }

func (c *compiler) run() (*Graph, field.ErrorList) {
	sp := field.NewPath("spec", "schema")
	s := c.rgd.Spec.Schema
	if s == nil {
		c.add(field.Required(sp, "the schema of the generated kind is required"))
		return nil, c.errs
	}
	c.compileSchemaNames(s, sp)
	specMap := c.decodeObject(s.Spec, sp.Child("spec"))
	typesMap := c.decodeObject(s.Types, sp.Child("types"))
	props, columns, serrs := simpleschema.ToOpenAPIWithColumns(specMap, typesMap, sp.Child("spec"), sp.Child("types"))
	c.add(serrs...)
	if props == nil {
		props = &extv1.JSONSchemaProps{Type: "object"}
	}
	c.specProps = props
	c.specColumns = columns
	if len(serrs) > 0 {
		// Type schema.spec loosely so one schema error does not cascade
		// into an error for every expression that reads the spec.
		c.instanceSchema = c.buildInstanceSchema(&extv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptrTo(true)})
	} else {
		c.instanceSchema = c.buildInstanceSchema(props)
	}
	namesOK := len(c.errs) == 0

	c.collectNodes()
	if err := c.buildEnv(); err != nil {
		c.add(field.InternalError(field.NewPath("spec"), err))
		return nil, c.errs
	}
	for _, n := range c.nodes {
		c.compileNode(n)
	}
	c.checkSameObject()
	order := c.orderNodes()
	status, statusProps := c.compileStatus(s, sp.Child("status"))
	crd := c.buildCRD(s, statusProps)
	if crd != nil && namesOK {
		c.add(validateCRD(crd, sp)...)
	}
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	g := &Graph{
		RGDName:    c.rgd.Name,
		RGDUID:     c.rgd.UID,
		Generation: c.rgd.Generation,
		Instance: InstanceKind{
			GVK:        schema.GroupVersionKind{Group: c.group, Version: c.version, Kind: c.kind},
			Resource:   pluralize(c.kind),
			Namespaced: !c.clusterScoped,
		},
		CRD:              crd,
		TopologicalOrder: order,
		UsesClock:        c.env != nil && c.env.clock != nil && *c.env.clock,
		Costly:           costly(c.env),
		byID:             map[string]*Node{},
		status:           status,
	}
	if c.env != nil {
		g.reads = c.env.reads.ids
	}
	for _, n := range c.nodes {
		g.Nodes = append(g.Nodes, n.node)
		g.byID[n.node.ID] = n.node
	}
	return g, nil
}

// costly returns the costly expressions the graph's environments
// collected, each source once.
func costly(env *graphEnv) []CostlyExpression {
	if env == nil || env.costly == nil {
		return nil
	}
	var out []CostlyExpression
	seen := map[string]bool{}
	for _, e := range *env.costly {
		if !seen[e.Expression] {
			seen[e.Expression] = true
			out = append(out, e)
		}
	}
	return out
}

// checkSameObject refuses two resources that render the same object: same
// group, kind, namespace and name, all written literally. (Names computed
// from expressions are compared when the instance is reconciled.)
func (c *compiler) checkSameObject() {
	seen := map[string]*nodeCtx{}
	for _, n := range c.nodes {
		if n.template == nil || n.node.Collection || c.byID[n.node.ID] != n {
			continue
		}
		meta, _ := n.template["metadata"].(map[string]any)
		apiVersion, _ := n.template["apiVersion"].(string)
		kind, _ := n.template["kind"].(string)
		name, _ := meta["name"].(string)
		ns, hasNS := meta["namespace"].(string)
		if _, other := meta["namespace"]; other && !hasNS {
			continue
		}
		if name == "" || kind == "" || strings.Contains(name+ns+apiVersion+kind, "${") {
			continue
		}
		group := ""
		if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
			group = apiVersion[:i]
		}
		key := group + "|" + kind + "|" + ns + "|" + name
		if prev, dup := seen[key]; dup {
			c.add(field.Invalid(n.path.Child("template", "metadata", "name"), name,
				fmt.Sprintf("resources %q and %q both render %s %s; each object may be rendered by one resource only", prev.node.ID, n.node.ID, kind, name)))
			continue
		}
		seen[key] = n
	}
}

func (c *compiler) compileSchemaNames(s *v1alpha1.Schema, sp *field.Path) {
	c.kind, c.version, c.group = s.Kind, s.APIVersion, s.Group
	if c.group == "" {
		c.group = v1alpha1.DefaultSchemaGroup
	}
	if !kindPattern.MatchString(s.Kind) {
		c.add(field.Invalid(sp.Child("kind"), s.Kind, "kind must be UpperCamelCase: ^[A-Z][a-zA-Z0-9]{0,62}$"))
	}
	if !apiVersionPattern.MatchString(s.APIVersion) {
		c.add(field.Invalid(sp.Child("apiVersion"), s.APIVersion, "apiVersion must look like v1, v1alpha1 or v2beta3 (^v[0-9]+(alpha[0-9]+|beta[0-9]+)?$)"))
	}
	switch s.Scope {
	case "", v1alpha1.ResourceScopeNamespaced:
	case v1alpha1.ResourceScopeCluster:
		c.clusterScoped = true
	default:
		c.add(field.NotSupported(sp.Child("scope"), s.Scope, []string{string(v1alpha1.ResourceScopeNamespaced), string(v1alpha1.ResourceScopeCluster)}))
	}
	c.guardAPI(s, sp)
}

// decodeObject decodes a schemaless field that must be a JSON object.
func (c *compiler) decodeObject(raw runtime.RawExtension, path *field.Path) map[string]any {
	if len(raw.Raw) == 0 {
		if raw.Object != nil {
			b, err := json.Marshal(raw.Object)
			if err != nil {
				c.add(field.Invalid(path, "", fmt.Sprintf("cannot encode: %v", err)))
				return nil
			}
			raw.Raw = b
		} else {
			return nil
		}
	}
	var v any
	if err := utiljson.Unmarshal(raw.Raw, &v); err != nil {
		c.add(field.Invalid(path, string(raw.Raw), fmt.Sprintf("must be a JSON/YAML object: %v", err)))
		return nil
	}
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.add(field.Invalid(path, v, fmt.Sprintf("must be an object, found %s", jsonKind(v))))
		return nil
	}
	return m
}

// buildInstanceSchema is the schema `schema` is typed with: apiVersion, kind,
// metadata and spec of the instance (not status).
func (c *compiler) buildInstanceSchema(props *extv1.JSONSchemaProps) *spec.Schema {
	specSchema := new(spec.Schema)
	if b, err := json.Marshal(props); err == nil {
		_ = json.Unmarshal(b, specSchema)
	}
	return &spec.Schema{SchemaProps: spec.SchemaProps{
		Type: spec.StringOrArray{"object"},
		Properties: map[string]spec.Schema{
			"apiVersion": *spec.StringProperty(),
			"kind":       *spec.StringProperty(),
			"metadata":   *objectMetaSchema(),
			"spec":       *specSchema,
		},
	}}
}

// objectMetaSchema is the part of ObjectMeta expressions may read from the instance.
func objectMetaSchema() *spec.Schema {
	str := *spec.StringProperty()
	strMap := *spec.MapProperty(spec.StringProperty())
	return &spec.Schema{SchemaProps: spec.SchemaProps{
		Type: spec.StringOrArray{"object"},
		Properties: map[string]spec.Schema{
			"name":              str,
			"generateName":      str,
			"namespace":         str,
			"uid":               str,
			"resourceVersion":   str,
			"generation":        *spec.Int64Property(),
			"creationTimestamp": *spec.DateTimeProperty(),
			"deletionTimestamp": *spec.DateTimeProperty(),
			"labels":            strMap,
			"annotations":       strMap,
			"finalizers":        *spec.ArrayProperty(spec.StringProperty()),
		},
	}}
}

// collectNodes validates ids and kinds and resolves every resource's schema.
func (c *compiler) collectNodes() {
	c.byID = map[string]*nodeCtx{}
	rp := field.NewPath("spec", "resources")
	for i, r := range c.rgd.Spec.Resources {
		p := rp.Index(i)
		if r == nil {
			c.add(field.Required(p, "resource must not be null"))
			continue
		}
		n := &nodeCtx{res: r, path: p, node: &Node{ID: r.ID, Index: i}, deps: map[string]bool{}}
		idOK := false
		switch {
		case r.ID == "":
			c.add(field.Required(p.Child("id"), "every resource needs an id"))
		case !idPattern.MatchString(r.ID):
			c.add(field.Invalid(p.Child("id"), r.ID, "id must be lowerCamelCase: ^[a-z][a-zA-Z0-9]*$"))
		case reservedNames[r.ID]:
			c.add(field.Invalid(p.Child("id"), r.ID, fmt.Sprintf("id %q is reserved", r.ID)))
		case c.byID[r.ID] != nil:
			c.add(field.Duplicate(p.Child("id"), r.ID))
		default:
			idOK = true
		}
		hasTemplate := len(r.Template.Raw) > 0 || r.Template.Object != nil
		switch {
		case hasTemplate && r.ExternalRef != nil:
			c.add(field.Invalid(p, r.ID, "exactly one of template or externalRef must be set, found both"))
		case !hasTemplate && r.ExternalRef == nil:
			c.add(field.Required(p.Child("template"), "exactly one of template or externalRef must be set"))
		case r.ExternalRef != nil:
			c.resolveExternalKind(n)
		default:
			c.resolveTemplateKind(n)
		}
		c.nodes = append(c.nodes, n)
		if idOK {
			c.byID[r.ID] = n
		}
	}
}

func (c *compiler) resolveTemplateKind(n *nodeCtx) {
	tp := n.path.Child("template")
	m := c.decodeObject(n.res.Template, tp)
	if m == nil {
		if len(c.errs) == 0 || c.errs[len(c.errs)-1].Field != tp.String() {
			c.add(field.Required(tp, "a template must be a Kubernetes object with apiVersion, kind and metadata"))
		}
		return
	}
	n.template = m
	apiVersion, ok1 := literalString(m, "apiVersion", tp, &c.errs)
	kind, ok2 := literalString(m, "kind", tp, &c.errs)
	meta, hasMeta := m["metadata"]
	if !hasMeta {
		c.add(field.Required(tp.Child("metadata"), "a template must be a Kubernetes object with metadata"))
	} else if _, isMap := meta.(map[string]any); !isMap {
		c.add(field.Invalid(tp.Child("metadata"), meta, fmt.Sprintf("metadata must be an object, found %s", jsonKind(meta))))
	}
	if !ok1 || !ok2 {
		return
	}
	c.resolveKind(n, apiVersion, kind, tp)
}

// literalString reads a required literal string field of a template.
func literalString(m map[string]any, key string, p *field.Path, errs *field.ErrorList) (string, bool) {
	v, ok := m[key]
	if !ok {
		*errs = append(*errs, field.Required(p.Child(key), fmt.Sprintf("a template must be a Kubernetes object with %s", key)))
		return "", false
	}
	s, ok := v.(string)
	if !ok || s == "" {
		*errs = append(*errs, field.Invalid(p.Child(key), v, fmt.Sprintf("%s must be a non-empty string", key)))
		return "", false
	}
	if strings.Contains(s, "${") {
		*errs = append(*errs, field.Invalid(p.Child(key), s, fmt.Sprintf("%s must be a literal, not an expression", key)))
		return "", false
	}
	return s, true
}

func (c *compiler) resolveExternalKind(n *nodeCtx) {
	ep := n.path.Child("externalRef")
	ref := n.res.ExternalRef
	n.node.External = true
	if ref.APIVersion == "" {
		c.add(field.Required(ep.Child("apiVersion"), "externalRef needs an apiVersion"))
	}
	if ref.Kind == "" {
		c.add(field.Required(ep.Child("kind"), "externalRef needs a kind"))
	}
	hasName, hasSel := ref.Metadata.Name != "", ref.Metadata.Selector != nil
	if hasName == hasSel {
		c.add(field.Invalid(ep.Child("metadata"), "", "exactly one of name or selector must be set"))
	}
	if hasSel {
		n.node.Collection = true
	}
	if len(n.res.ForEach) > 0 {
		c.add(field.Invalid(n.path.Child("forEach"), "", "an externalRef cannot have forEach; use a label selector to read several objects"))
	}
	if ref.APIVersion == "" || ref.Kind == "" {
		return
	}
	c.resolveKind(n, ref.APIVersion, ref.Kind, ep)
}

// OriginUnknownKind marks (as field.Error's Origin) the error of a resource
// whose kind the resolver does not know: the kind may appear later, so the
// RGD is worth compiling again.
const OriginUnknownKind = "korvid/unknown-kind"

func (c *compiler) resolveKind(n *nodeCtx, apiVersion, kind string, p *field.Path) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		c.add(field.Invalid(p.Child("apiVersion"), apiVersion, fmt.Sprintf("not a valid apiVersion: %v", err)))
		return
	}
	gvk := gv.WithKind(kind)
	n.node.GVK = gvk
	rk, err := c.resolver.Resolve(gvk)
	if err != nil || rk == nil || rk.Schema == nil {
		msg := fmt.Sprintf("unknown kind %s %s: the cluster serves no such kind (is its CRD installed?)", apiVersion, kind)
		if err != nil {
			msg = fmt.Sprintf("unknown kind %s %s: %v", apiVersion, kind, err)
		}
		c.add(field.Invalid(p.Child("kind"), kind, msg).WithOrigin(OriginUnknownKind))
		return
	}
	n.node.Resource = rk.Resource
	n.node.Namespaced = rk.Namespaced
	n.node.Schema = rk.Schema
	n.valid = true
}

// typeNameFor names the CEL object type of a kind.
func typeNameFor(gvk schema.GroupVersionKind) string {
	r := strings.NewReplacer(".", "_", "-", "_", "/", "_")
	g := gvk.Group
	if g == "" {
		g = "core"
	}
	return "k8s_" + r.Replace(g) + "_" + r.Replace(gvk.Version) + "_" + gvk.Kind
}

// buildEnv declares `schema` and every resource id with its type.
func (c *compiler) buildEnv() error {
	base, err := baseEnv()
	if err != nil {
		return err
	}
	reg := &typeRegistry{base: base.CELTypeProvider(), adapter: base.CELTypeAdapter()}
	inst := newDeclTree(c.instanceSchema, "instance_"+c.kind)
	reg.add(inst)
	vars := map[string]*apiservercel.DeclType{varSchema: inst.root}
	formats := map[string]*formatNode{}
	if inst.formats != nil {
		// metadata.creationTimestamp and deletionTimestamp are timestamps,
		// as kro types them.
		formats[varSchema] = inst.formats
	}
	ids := map[string]bool{}
	for _, n := range c.nodes {
		id := n.node.ID
		if c.byID[id] != n {
			continue // invalid or duplicate id: already reported
		}
		d := apiservercel.DynType
		var f *formatNode
		if n.valid {
			t := cachedDeclTree(n.node.Schema, typeNameFor(n.node.GVK))
			reg.add(t)
			d = t.root
			f = t.formats
		}
		if len(n.res.ForEach) > 0 {
			n.node.Collection = true
		}
		if n.node.Collection {
			n.decl = d
			d = apiservercel.NewListType(d, int64(c.opts.MaxCollectionSize))
			f = listFormats(f)
		} else {
			n.decl = d
		}
		if f != nil {
			formats[id] = f
		}
		vars[id] = d
		ids[id] = true
	}
	names := slices.Sorted(maps.Keys(vars))
	envOpts := []cel.EnvOption{cel.CustomTypeProvider(reg), cel.CustomTypeAdapter(reg)}
	for _, n := range names {
		envOpts = append(envOpts, cel.Variable(n, vars[n].CelType()))
	}
	env, err := base.Extend(envOpts...)
	if err != nil {
		return fmt.Errorf("declaring the graph's variables: %w", err)
	}
	c.env = &graphEnv{env: env, reg: reg, opts: c.opts, vars: vars, ids: ids, formats: formats, memo: map[string]*checkedExpr{}, clock: new(bool), costly: new([]CostlyExpression), reads: newReadSet()}
	return nil
}

// pluralize derives the resource name of the generated kind exactly as kro
// does (flect's English plural of the lowercased kind), so an RGD written for
// kro serves its instances under the same resource and CRD name.
func pluralize(kind string) string {
	return flect.Pluralize(strings.ToLower(kind))
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int64, int, int32:
		return "integer"
	case float64, float32:
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}
