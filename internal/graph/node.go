package graph

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apiservercel "k8s.io/apiserver/pkg/cel"

	"github.com/korvid/korvid/internal/graph/expr"
)

// iterator is one forEach dimension.
type iterator struct {
	name string
	expr *celExpr
}

// compileNode checks and compiles one resource: forEach, template or
// externalRef, includeWhen and readyWhen.
func (c *compiler) compileNode(n *nodeCtx) {
	if c.byID[n.node.ID] != n {
		return
	}
	prog := &nodeProgram{clusterInstance: c.clusterScoped, maxItems: c.opts.MaxCollectionSize}
	n.node.prog = prog
	env := c.env

	if len(n.res.ForEach) > 0 {
		var iterVars map[string]*apiservercel.DeclType
		prog.forEach, iterVars = c.compileForEach(n)
		if len(iterVars) > 0 {
			ext, err := env.extend(iterVars)
			if err != nil {
				c.add(field.InternalError(n.path.Child("forEach"), err))
				return
			}
			env = ext
		}
	}

	if n.template != nil {
		tp := n.path.Child("template")
		var s = n.node.Schema
		w := &templateWalker{c: c, env: env, node: n, checkSchema: n.valid}
		prog.template = w.walk(n.template, s, tp)
		c.checkTemplateRules(n, w)
	}
	if n.res.ExternalRef != nil {
		c.compileExternal(n, prog)
	}

	for i, src := range n.res.IncludeWhen {
		p := n.path.Child("includeWhen").Index(i)
		if e := c.compileCondition(c.env, src, p, "includeWhen"); e != nil {
			prog.includeWhen = append(prog.includeWhen, e)
			for _, id := range e.ids {
				n.deps[id] = true
			}
		}
	}

	readyEnv := c.env
	if n.node.Collection {
		ext, err := c.env.extend(map[string]*apiservercel.DeclType{varEach: n.decl})
		if err != nil {
			c.add(field.InternalError(n.path.Child("readyWhen"), err))
			return
		}
		readyEnv = ext
	}
	for i, src := range n.res.ReadyWhen {
		p := n.path.Child("readyWhen").Index(i)
		e := c.compileCondition(readyEnv, src, p, "readyWhen")
		if e == nil {
			continue
		}
		var others []string
		for _, r := range e.refs {
			if r != n.node.ID && !(r == varEach && n.node.Collection) {
				others = append(others, r)
			}
		}
		if len(others) > 0 {
			allowed := fmt.Sprintf("%q", n.node.ID)
			if n.node.Collection {
				allowed = fmt.Sprintf("%q or \"each\"", n.node.ID)
			}
			c.add(field.Invalid(p, src, fmt.Sprintf("readyWhen expression %q references %s; readyWhen may only reference this resource, %s", e.src, strings.Join(others, ", "), allowed)))
			continue
		}
		prog.readyWhen = append(prog.readyWhen, e)
	}
	for id := range n.deps {
		if c.byID[id] == nil {
			delete(n.deps, id)
		}
	}
}

// compileCondition compiles an includeWhen/readyWhen entry: one standalone
// boolean expression.
func (c *compiler) compileCondition(env *graphEnv, src string, p *field.Path, what string) *celExpr {
	v, err := expr.Parse(src)
	if err != nil {
		c.add(field.Invalid(p, src, err.Error()))
		return nil
	}
	if !v.Standalone {
		c.add(field.Invalid(p, src, fmt.Sprintf("%s entries must be a single ${...} expression, found %q", what, src)))
		return nil
	}
	e, ferr := env.compile(v.Parts[0].Expr, p)
	if ferr != nil {
		c.add(ferr)
		return nil
	}
	if e.omits {
		c.add(field.Invalid(p, src, fmt.Sprintf("%s expression %q calls omit(), which only applies to template fields", what, e.src)))
		return nil
	}
	if !isBoolish(e.out) && (what != "readyWhen" || !isOptionalBool(e.out)) {
		want := "a bool"
		if what == "readyWhen" {
			want = "a bool or an optional bool"
		}
		c.add(field.Invalid(p, src, fmt.Sprintf("%s expression %q must be %s, found %s", what, e.src, want, typeName(e.out))))
		return nil
	}
	return e
}

func isBoolish(t interface{ Kind() types.Kind }) bool {
	switch t.Kind() {
	case types.BoolKind, types.DynKind, types.AnyKind:
		return true
	}
	return false
}

// isOptionalBool reports an optional(bool), which readyWhen accepts as kro
// does (an absent value is not ready).
func isOptionalBool(t *cel.Type) bool {
	if t.Kind() != types.OpaqueKind || t.TypeName() != "optional_type" || len(t.Parameters()) != 1 {
		return false
	}
	return isBoolish(t.Parameters()[0])
}

// compileForEach compiles the iterators of a collection. Each must be a
// standalone list expression independent of the others.
func (c *compiler) compileForEach(n *nodeCtx) ([]iterator, map[string]*apiservercel.DeclType) {
	fp := n.path.Child("forEach")
	names := map[string]bool{}
	for _, dim := range n.res.ForEach {
		for name := range dim {
			names[name] = true
		}
	}
	var iters []iterator
	vars := map[string]*apiservercel.DeclType{}
	for i, dim := range n.res.ForEach {
		p := fp.Index(i)
		if len(dim) != 1 {
			c.add(field.Invalid(p, len(dim), "each forEach entry maps exactly one iterator name to a list expression"))
			continue
		}
		for name, src := range dim {
			ip := p.Key(name)
			switch {
			case !iteratorPattern.MatchString(name):
				c.add(field.Invalid(ip, name, "iterator names must be identifiers"))
				continue
			case reservedNames[name]:
				c.add(field.Invalid(ip, name, fmt.Sprintf("iterator name %q is reserved", name)))
				continue
			case c.byID[name] != nil:
				c.add(field.Invalid(ip, name, fmt.Sprintf("iterator name %q is also a resource id", name)))
				continue
			case vars[name] != nil:
				c.add(field.Duplicate(ip, name))
				continue
			}
			// Until the list expression checks, the iterator is dyn, so a
			// bad forEach does not cascade into the template.
			vars[name] = apiservercel.DynType
			v, err := expr.Parse(src)
			if err != nil {
				c.add(field.Invalid(ip, src, err.Error()))
				continue
			}
			if !v.Standalone {
				c.add(field.Invalid(ip, src, fmt.Sprintf("forEach values must be a single ${...} expression yielding a list, found %q", src)))
				continue
			}
			e, ferr := c.env.compile(v.Parts[0].Expr, ip)
			if ferr != nil {
				var others []string
				for other := range names {
					if other != name && mentions(v.Parts[0].Expr, other) {
						others = append(others, other)
					}
				}
				if len(others) > 0 {
					slices.Sort(others)
					ferr = field.Invalid(ip, src, fmt.Sprintf("forEach expression %q references iterator %s; iterators must be independent of each other", v.Parts[0].Expr, strings.Join(others, ", ")))
				}
				c.add(ferr)
				continue
			}
			elem := apiservercel.DynType
			switch e.out.Kind() {
			case types.ListKind:
				elem = declOfCELType(e.out.Parameters()[0], c.env)
			case types.DynKind, types.AnyKind:
			default:
				c.add(field.Invalid(ip, src, fmt.Sprintf("forEach expression %q must yield a list, found %s", e.src, typeName(e.out))))
				continue
			}
			for _, id := range e.ids {
				n.deps[id] = true
			}
			vars[name] = elem
			iters = append(iters, iterator{name: name, expr: e})
		}
	}
	return iters, vars
}

// mentions reports whether src uses ident as an identifier (a cheap lexical
// check used only to word the error about dependent iterators; iterators are
// not declared while their own lists are checked, so a real reference also
// fails type checking).
func mentions(src, ident string) bool {
	for i := 0; ; {
		j := strings.Index(src[i:], ident)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isIdentByte(src[j-1]) && src[j-1] != '.'
		after := j+len(ident) >= len(src) || !isIdentByte(src[j+len(ident)])
		if before && after {
			return true
		}
		i = j + len(ident)
	}
}

func isIdentByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// declOfCELType maps a CEL type back to a declaration for variables derived
// from expressions (iterators).
func declOfCELType(t interface {
	Kind() types.Kind
	TypeName() string
}, env *graphEnv) *apiservercel.DeclType {
	ct, ok := t.(*types.Type)
	if !ok {
		return apiservercel.DynType
	}
	switch ct.Kind() {
	case types.StringKind:
		return apiservercel.StringType
	case types.IntKind:
		return apiservercel.IntType
	case types.UintKind:
		return apiservercel.UintType
	case types.DoubleKind:
		return apiservercel.DoubleType
	case types.BoolKind:
		return apiservercel.BoolType
	case types.StructKind:
		if d, ok := env.reg.find(ct.TypeName()); ok {
			return d
		}
	case types.ListKind:
		return apiservercel.NewListType(declOfCELType(ct.Parameters()[0], env), defaultMaxListItems)
	case types.MapKind:
		return apiservercel.NewMapType(declOfCELType(ct.Parameters()[0], env), declOfCELType(ct.Parameters()[1], env), defaultMaxMapEntries)
	}
	return apiservercel.DynType
}

// checkTemplateRules applies the rules about a template as a whole: the
// kro.run/ prefix is reserved, namespaces fit the scopes, and collection
// items get distinct names.
func (c *compiler) checkTemplateRules(n *nodeCtx, w *templateWalker) {
	tp := n.path.Child("template")
	meta, _ := n.template["metadata"].(map[string]any)
	mp := tp.Child("metadata")
	for _, key := range []string{"labels", "annotations"} {
		m, _ := meta[key].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if ReservedKey(k) {
				// The same decision as at run time, where computed maps are checked.
				prefix, _, _ := strings.Cut(k, "/")
				c.add(field.Invalid(mp.Child(key).Key(k), k, fmt.Sprintf("%s with the %q prefix are reserved for korvid", key, prefix+"/")))
			}
		}
	}
	if !n.valid {
		return
	}
	ns, hasNS := meta["namespace"]
	if hasNS && ns == "" {
		hasNS = false
	}
	if !n.node.Namespaced && hasNS {
		c.add(field.Invalid(mp.Child("namespace"), ns, fmt.Sprintf("%s is cluster-scoped and cannot have a namespace", n.node.GVK.Kind)))
	}
	if n.node.Namespaced && c.clusterScoped && !hasNS {
		c.add(field.Required(mp.Child("namespace"), fmt.Sprintf("%s is namespaced and the instance kind %s is cluster-scoped, so the template must set metadata.namespace", n.node.GVK.Kind, c.kind)))
	}
	if len(n.res.ForEach) > 0 {
		nameRefs := map[string]bool{}
		for _, e := range w.nameExprs {
			for _, r := range e.refs {
				nameRefs[r] = true
			}
		}
		for i, dim := range n.res.ForEach {
			for name := range dim {
				if !nameRefs[name] {
					c.add(field.Invalid(mp.Child("name"), meta["name"], fmt.Sprintf("metadata.name of a collection must use iterator %q (forEach[%d]) so every item gets a different name", name, i)))
				}
			}
		}
	}
}

// compileExternal compiles the name, namespace and selector of an externalRef.
func (c *compiler) compileExternal(n *nodeCtx, prog *nodeProgram) {
	ref := n.res.ExternalRef
	mp := n.path.Child("externalRef", "metadata")
	compileStr := func(s string, p *field.Path) *exprValue {
		if s == "" {
			return nil
		}
		v, err := expr.Parse(s)
		if err != nil {
			c.add(field.Invalid(p, s, err.Error()))
			return nil
		}
		w := &templateWalker{c: c, env: c.env, node: n}
		ev := w.compileString(v, spec_string(), p)
		return ev
	}
	prog.extName = compileStr(ref.Metadata.Name, mp.Child("name"))
	prog.extNamespace = compileStr(ref.Metadata.Namespace, mp.Child("namespace"))
	if !n.node.Namespaced && ref.Metadata.Namespace != "" && n.valid {
		c.add(field.Invalid(mp.Child("namespace"), ref.Metadata.Namespace, fmt.Sprintf("%s is cluster-scoped and cannot have a namespace", n.node.GVK.Kind)))
	}
	if ref.Metadata.Selector != nil {
		b, err := json.Marshal(ref.Metadata.Selector)
		var sel any
		if err == nil {
			err = utiljson.Unmarshal(b, &sel)
		}
		if err != nil {
			c.add(field.Invalid(mp.Child("selector"), "", err.Error()))
			return
		}
		w := &templateWalker{c: c, env: c.env, node: n}
		prog.extSelector = w.walk(sel, nil, mp.Child("selector"))
	}
}
