package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/korvid/korvid/internal/graph/cellib"
)

// nodeProgram is the compiled, immutable evaluation plan of one node.
type nodeProgram struct {
	template        *tmplNode
	forEach         []iterator
	includeWhen     []*celExpr
	readyWhen       []*celExpr
	extName         *exprValue
	extNamespace    *exprValue
	extSelector     *tmplNode
	clusterInstance bool
	maxItems        int
}

// statusProgram evaluates schema.status.
type statusProgram struct {
	tree *tmplNode
}

// binding is a variable bound for one evaluation (an iterator or each).
type binding struct {
	name string
	val  any
}

// activation resolves the variables of an expression: schema, resource ids
// and bound iterators. It is a small value built per evaluation.
type activation struct {
	scope *Scope
	extra []binding
	// formats, when set, converts the formatted strings of resource values
	// (see formatNode); converted values are kept for the activation's life.
	formats   map[string]*formatNode
	converted []binding
}

var _ interpreter.Activation = (*activation)(nil)

func (a *activation) ResolveName(name string) (any, bool) {
	for i := len(a.extra) - 1; i >= 0; i-- {
		if a.extra[i].name == name {
			return a.extra[i].val, true
		}
	}
	var v any
	var ok bool
	if name == varSchema {
		if a.scope.Instance == nil {
			return nil, false
		}
		v, ok = a.scope.Instance, true
	} else {
		v, ok = a.scope.Observed[name]
	}
	if !ok || a.formats == nil {
		return v, ok
	}
	f := a.formats[name]
	if f == nil {
		return v, ok
	}
	for _, c := range a.converted {
		if c.name == name {
			return c.val, true
		}
	}
	c := f.apply(v)
	a.converted = append(a.converted, binding{name, c})
	return c, true
}

func (a *activation) Parent() interpreter.Activation { return nil }

// evalCtx carries what one render needs.
type evalCtx struct {
	// ctx stops the evaluation when cancelled (see interrupted).
	ctx         context.Context
	nodeID      string
	act         *activation
	skipPending bool
	// pending, when not nil, collects pending errors of skipped fields.
	pending *[]error
	// failures, when not nil, collects other errors of skipped fields.
	failures *[]error
}

// site is where e sits in the node being evaluated.
func (ec *evalCtx) site(e *celExpr) Site {
	return Site{ec.nodeID, e.path, e.src}
}

// eval runs one expression, classifying failures as pending, interrupted
// or not.
func (ec *evalCtx) eval(e *celExpr) (ref.Val, error) {
	if ec.ctx.Err() != nil {
		return nil, ec.interrupted(e)
	}
	for _, id := range e.ids {
		if _, ok := ec.act.ResolveName(id); !ok {
			return nil, &PendingError{Site: ec.site(e), Waiting: id}
		}
	}
	if e.clock && ec.act.scope.NoClock {
		return nil, &PendingError{Site: ec.site(e), Waiting: cellib.NowFunction + "()"}
	}
	if _, ok := ec.act.ResolveName(varSchema); !ok && containsStr(e.refs, varSchema) {
		return nil, &EvalError{Site: ec.site(e), Err: errors.New("no instance in scope")}
	}
	if ec.act.formats == nil && e.formats != nil {
		ec.act.formats = e.formats
	}
	prg, err := e.prog.program()
	if err != nil {
		return nil, &EvalError{Site: ec.site(e), Err: err}
	}
	var out ref.Val
	if e.prog.loops {
		// Comprehensions check the context every few iterations.
		out, _, err = prg.ContextEval(ec.ctx, ec.act)
	} else {
		// Without a loop an expression is short (its cost is bounded);
		// the check above is enough, and ContextEval's set-up (a child
		// context per evaluation) would cost more than the expression.
		out, _, err = prg.Eval(ec.act)
	}
	if err != nil {
		if ec.ctx.Err() != nil {
			return nil, ec.interrupted(e)
		}
		msg := err.Error()
		if strings.Contains(msg, "no such key") || strings.Contains(msg, "no such attribute") {
			return nil, &PendingError{Site: ec.site(e), Waiting: waitingFor(e, msg)}
		}
		return nil, &EvalError{Site: ec.site(e), Err: err}
	}
	return out, nil
}

// interrupted is the error of an expression stopped by the context.
func (ec *evalCtx) interrupted(e *celExpr) error {
	return fmt.Errorf("%s: evaluating %q: %w: %w", e.path, e.src, ErrInterrupted, context.Cause(ec.ctx))
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// waitingFor words what a "no such key" failure waits for.
func waitingFor(e *celExpr, msg string) string {
	key := msg
	if i := strings.Index(msg, "no such key: "); i >= 0 {
		key = strings.TrimSpace(msg[i+len("no such key: "):])
	}
	if len(e.ids) > 0 {
		return fmt.Sprintf("field %q of %s", key, strings.Join(e.ids, ", "))
	}
	return fmt.Sprintf("field %q", key)
}

// handle applies the pending policy to an error: it reports whether the
// field is to be skipped, or returns the error to fail with.
func (ec *evalCtx) handle(err error) (skip bool, _ error) {
	if errors.Is(err, ErrInterrupted) {
		return false, err // never skipped: the whole evaluation stops
	}
	var pe *PendingError
	if errors.As(err, &pe) {
		if ec.pending != nil {
			*ec.pending = append(*ec.pending, err)
			return true, nil
		}
		if ec.skipPending {
			return true, nil
		}
		return false, err
	}
	if ec.failures != nil {
		*ec.failures = append(*ec.failures, err)
		return true, nil
	}
	return false, err
}

// render produces the value of a template node. omit reports a dropped field.
func (t *tmplNode) render(ec *evalCtx) (v any, omit bool, err error) {
	switch t.kind {
	case tmplLiteral:
		return runtime.DeepCopyJSONValue(t.lit), false, nil
	case tmplObject:
		out := make(map[string]any, len(t.keys))
		skipped := 0
		for i, k := range t.keys {
			cv, om, err := t.fields[i].render(ec)
			if err != nil {
				skip, err := ec.handle(err)
				if skip {
					skipped++
					continue
				}
				return nil, false, err
			}
			if om {
				continue
			}
			out[k] = cv
		}
		// An object all of whose fields were skipped is skipped too, so
		// partial results never hold empty shells.
		return out, len(out) == 0 && skipped > 0, nil
	case tmplArray:
		out := make([]any, 0, len(t.items))
		for _, it := range t.items {
			cv, om, err := it.render(ec)
			if err != nil {
				skip, err := ec.handle(err)
				if skip {
					continue
				}
				return nil, false, err
			}
			if om {
				continue
			}
			out = append(out, cv)
		}
		return out, false, nil
	case tmplExpr:
		return t.val.render(ec)
	}
	return nil, false, nil
}

func (v *exprValue) render(ec *evalCtx) (any, bool, error) {
	if v.standalone {
		e := v.parts[0].ex
		out, err := ec.eval(e)
		if err != nil {
			return nil, false, err
		}
		n, err := cellib.ToNative(out)
		if errors.Is(err, cellib.ErrOmitted) {
			return nil, true, nil
		}
		if err != nil {
			return nil, false, &EvalError{Site: Site{ec.nodeID, v.path, e.src}, Err: err}
		}
		return n, false, nil
	}
	var b strings.Builder
	for _, p := range v.parts {
		if p.ex == nil {
			b.WriteString(p.lit)
			continue
		}
		out, err := ec.eval(p.ex)
		if err != nil {
			return nil, false, err
		}
		if cellib.IsOmit(out) {
			return nil, true, nil
		}
		s, ok := out.(types.String)
		if !ok {
			return nil, false, &EvalError{Site: Site{ec.nodeID, v.path, p.ex.src},
				Err: fmt.Errorf("a string template part must be a string, found %s", out.Type().TypeName())}
		}
		b.WriteString(string(s))
	}
	return b.String(), false, nil
}

func (p *nodeProgram) included(ctx context.Context, n *Node, s Scope) (bool, error) {
	if len(p.includeWhen) == 0 {
		return true, nil
	}
	return allHold(&evalCtx{ctx: ctx, nodeID: n.ID, act: &activation{scope: &s}}, p.includeWhen)
}

// allHold reports whether every expression is true, stopping at the first
// that is not or fails.
func allHold(ec *evalCtx, es []*celExpr) (bool, error) {
	for _, e := range es {
		if b, err := evalBool(ec, e); err != nil || !b {
			return false, err
		}
	}
	return true, nil
}

func evalBool(ec *evalCtx, e *celExpr) (bool, error) {
	out, err := ec.eval(e)
	if err != nil {
		return false, err
	}
	if o, isOpt := out.(*types.Optional); isOpt {
		// readyWhen accepts optional(bool): an absent value does not hold.
		if !o.HasValue() {
			return false, nil
		}
		out = o.GetValue()
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, &EvalError{Site: ec.site(e),
			Err: fmt.Errorf("expected a bool, found %s", out.Type().TypeName())}
	}
	return bool(b), nil
}

func (p *nodeProgram) render(ctx context.Context, n *Node, s Scope, o RenderOptions) ([]*unstructured.Unstructured, error) {
	if p.template == nil {
		return nil, fmt.Errorf("node %s is an externalRef and has no template", n.ID)
	}
	ns := instanceNamespace(s)
	ec := &evalCtx{ctx: ctx, nodeID: n.ID, act: &activation{scope: &s}, skipPending: o.SkipPending, pending: o.Pending}
	if len(p.forEach) == 0 {
		obj, err := p.renderOne(n, ec, ns)
		if err != nil {
			return nil, err
		}
		return []*unstructured.Unstructured{obj}, nil
	}
	lists := make([][]ref.Val, len(p.forEach))
	total := 1
	for i, it := range p.forEach {
		out, err := ec.eval(it.expr)
		if err != nil {
			if errors.Is(err, ErrPending) && o.Pending != nil {
				*o.Pending = append(*o.Pending, err)
				return nil, nil
			}
			if errors.Is(err, ErrPending) && o.SkipPending {
				return nil, nil
			}
			return nil, err
		}
		l, err := listElements(out)
		if err != nil {
			return nil, &EvalError{Site: Site{n.ID, it.expr.path, it.expr.src}, Err: err}
		}
		lists[i] = l
		total *= len(l)
		if total > p.maxItems {
			return nil, &EvalError{Site: Site{n.ID, it.expr.path, it.expr.src},
				Err: fmt.Errorf("the collection expands to more than %d objects (the limit)", p.maxItems)}
		}
	}
	if total == 0 {
		return []*unstructured.Unstructured{}, nil
	}
	objs := make([]*unstructured.Unstructured, 0, total)
	idx := make([]int, len(lists))
	bind := make([]binding, len(lists))
	for i, it := range p.forEach {
		bind[i].name = it.name
	}
	ec.act.extra = bind
	for {
		for i := range lists {
			bind[i].val = lists[i][idx[i]]
		}
		obj, err := p.renderOne(n, ec, ns)
		if err != nil {
			return nil, err
		}
		objs = append(objs, obj)
		// Advance the odometer: the last iterator moves fastest.
		k := len(idx) - 1
		for k >= 0 {
			idx[k]++
			if idx[k] < len(lists[k]) {
				break
			}
			idx[k] = 0
			k--
		}
		if k < 0 {
			break
		}
	}
	return objs, nil
}

func (p *nodeProgram) renderOne(n *Node, ec *evalCtx, ns string) (*unstructured.Unstructured, error) {
	v, _, err := p.template.render(ec)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &EvalError{Site: Site{NodeID: n.ID, Path: "template"}, Err: fmt.Errorf("template rendered to %s, not an object", jsonKind(v))}
	}
	if n.Namespaced && ns != "" {
		meta, _ := m["metadata"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
			m["metadata"] = meta
		}
		if cur, _ := meta["namespace"].(string); cur == "" {
			meta["namespace"] = ns
		}
	}
	return &unstructured.Unstructured{Object: m}, nil
}

func instanceNamespace(s Scope) string {
	meta, _ := s.Instance["metadata"].(map[string]any)
	ns, _ := meta["namespace"].(string)
	return ns
}

func listElements(v ref.Val) ([]ref.Val, error) {
	l, ok := v.(interface {
		Size() ref.Val
		Get(ref.Val) ref.Val
	})
	if !ok || v.Type() != types.ListType {
		return nil, fmt.Errorf("forEach expects a list, found %s", v.Type().TypeName())
	}
	size, ok := l.Size().(types.Int)
	if !ok {
		return nil, errors.New("forEach list has no size")
	}
	out := make([]ref.Val, int(size))
	for i := range out {
		out[i] = l.Get(types.Int(i))
		if types.IsError(out[i]) {
			return nil, fmt.Errorf("element %d: %v", i, out[i])
		}
	}
	return out, nil
}

func (p *nodeProgram) external(ctx context.Context, n *Node, s Scope) (*ExternalTarget, error) {
	if !n.External {
		return nil, fmt.Errorf("node %s is not an externalRef", n.ID)
	}
	ec := &evalCtx{ctx: ctx, nodeID: n.ID, act: &activation{scope: &s}}
	t := &ExternalTarget{GVK: n.GVK}
	str := func(v *exprValue) (string, error) {
		if v == nil {
			return "", nil
		}
		out, _, err := v.render(ec)
		if err != nil {
			return "", err
		}
		str, ok := out.(string)
		if !ok {
			return "", &EvalError{Site: Site{n.ID, v.path, v.source}, Err: fmt.Errorf("expected a string, found %s", jsonKind(out))}
		}
		return str, nil
	}
	var err error
	if t.Name, err = str(p.extName); err != nil {
		return nil, err
	}
	if t.Namespace, err = str(p.extNamespace); err != nil {
		return nil, err
	}
	// A reference by name defaults to the instance's namespace; a reference
	// by selector without a namespace lists every namespace, as in kro.
	if n.Namespaced && t.Namespace == "" && p.extSelector == nil {
		t.Namespace = instanceNamespace(s)
	}
	if !n.Namespaced {
		t.Namespace = ""
	}
	if p.extSelector != nil {
		out, _, err := p.extSelector.render(ec)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, &EvalError{Site: Site{NodeID: n.ID, Path: "externalRef.metadata.selector"}, Err: err}
		}
		var ls metav1.LabelSelector
		if err := json.Unmarshal(b, &ls); err != nil {
			return nil, &EvalError{Site: Site{NodeID: n.ID, Path: "externalRef.metadata.selector"}, Err: err}
		}
		sel, err := metav1.LabelSelectorAsSelector(&ls)
		if err != nil {
			return nil, &EvalError{Site: Site{NodeID: n.ID, Path: "externalRef.metadata.selector"}, Err: err}
		}
		t.Selector = sel
	}
	return t, nil
}

func (p *nodeProgram) ready(ctx context.Context, n *Node, s Scope) (bool, error) {
	obs, ok := s.Observed[n.ID]
	if !ok {
		return false, nil
	}
	if len(p.readyWhen) == 0 {
		return true, nil
	}
	if !n.Collection {
		return allHold(&evalCtx{ctx: ctx, nodeID: n.ID, act: &activation{scope: &s}}, p.readyWhen)
	}
	items, _ := obs.([]any)
	ec := &evalCtx{ctx: ctx, nodeID: n.ID, act: &activation{scope: &s, extra: []binding{{name: varEach}}}}
	var itemFormats *formatNode
	if f := p.readyWhen[0].formats[n.ID]; f != nil {
		itemFormats = f.items
	}
	for _, item := range items {
		ec.act.extra[0].val = itemFormats.apply(item)
		if ok, err := allHold(ec, p.readyWhen); err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func (p *statusProgram) project(ctx context.Context, g *Graph, s Scope) (map[string]any, []error, error) {
	if p == nil || p.tree == nil {
		return map[string]any{}, nil, nil
	}
	var pending, failures []error
	ec := &evalCtx{ctx: ctx, act: &activation{scope: &s}, pending: &pending, failures: &failures}
	v, _, err := p.tree.render(ec)
	if err != nil {
		return nil, pending, err
	}
	if len(failures) > 0 {
		err = errors.Join(failures...)
	}
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m, pending, err
}
