package graph

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// rewriteNullComparisons lets `x == null` and `x != null` compare a field of
// any type with null, as kro does (its job example waits on
// `${job.status.completionTime != null}`). CEL's type checker refuses them
// for typed fields (string vs null), and a field that is absent is not null
// but missing. Each comparison of a field selection with the null literal is
// rewritten before checking:
//
//	a.f != null   =>   has(a.f) && dyn(a.f) != null
//	a.f == null   =>   !has(a.f) || dyn(a.f) == null
//
// so an absent field compares equal to null and a present one compares by
// value. An operand that is itself absent (a.f where a is missing) still
// waits for its data, like any other reference. Comparisons of anything but
// a field selection only get the dyn() conversion.
func rewriteNullComparisons(parsed *cel.Ast) {
	root := parsed.NativeRep().Expr()
	var maxID int64
	ast.PostOrderVisit(root, ast.NewExprVisitor(func(e ast.Expr) {
		if e.ID() > maxID {
			maxID = e.ID()
		}
	}))
	r := &nullRewriter{next: maxID, fac: ast.NewExprFactory()}
	var targets []ast.Expr
	ast.PostOrderVisit(root, ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.CallKind {
			return
		}
		c := e.AsCall()
		if c.IsMemberFunction() || len(c.Args()) != 2 || (c.FunctionName() != operators.Equals && c.FunctionName() != operators.NotEquals) {
			return
		}
		if isNullLiteral(c.Args()[0]) != isNullLiteral(c.Args()[1]) {
			targets = append(targets, e)
		}
	}))
	for _, e := range targets {
		r.rewrite(e)
	}
}

type nullRewriter struct {
	next int64
	fac  ast.ExprFactory
}

func (r *nullRewriter) id() int64 {
	r.next++
	return r.next
}

func isNullLiteral(e ast.Expr) bool {
	return e.Kind() == ast.LiteralKind && e.AsLiteral() == types.NullValue
}

func (r *nullRewriter) rewrite(e ast.Expr) {
	c := e.AsCall()
	operand := c.Args()[0]
	if isNullLiteral(operand) {
		operand = c.Args()[1]
	}
	eq := c.FunctionName() == operators.Equals
	cmp := r.fac.NewCall(r.id(), c.FunctionName(), r.fac.NewCall(r.id(), "dyn", r.copy(operand)), r.fac.NewLiteral(r.id(), types.NullValue))
	if operand.Kind() != ast.SelectKind || operand.AsSelect().IsTestOnly() {
		e.SetKindCase(cmp)
		return
	}
	sel := operand.AsSelect()
	target := r.copy(sel.Operand())
	if target == nil {
		e.SetKindCase(cmp)
		return
	}
	presence := r.fac.NewPresenceTest(r.id(), target, sel.FieldName())
	if eq {
		presence = r.fac.NewCall(r.id(), operators.LogicalNot, presence)
		e.SetKindCase(r.fac.NewCall(e.ID(), operators.LogicalOr, presence, cmp))
		return
	}
	e.SetKindCase(r.fac.NewCall(e.ID(), operators.LogicalAnd, presence, cmp))
}

// copy duplicates an expression made of identifiers, selections, literals
// and calls with fresh ids, or returns nil for anything else.
func (r *nullRewriter) copy(e ast.Expr) ast.Expr {
	switch e.Kind() {
	case ast.IdentKind:
		return r.fac.NewIdent(r.id(), e.AsIdent())
	case ast.LiteralKind:
		return r.fac.NewLiteral(r.id(), e.AsLiteral())
	case ast.SelectKind:
		s := e.AsSelect()
		op := r.copy(s.Operand())
		if op == nil {
			return nil
		}
		if s.IsTestOnly() {
			return r.fac.NewPresenceTest(r.id(), op, s.FieldName())
		}
		return r.fac.NewSelect(r.id(), op, s.FieldName())
	case ast.CallKind:
		c := e.AsCall()
		args := make([]ast.Expr, 0, len(c.Args()))
		for _, a := range c.Args() {
			ca := r.copy(a)
			if ca == nil {
				return nil
			}
			args = append(args, ca)
		}
		if c.IsMemberFunction() {
			t := r.copy(c.Target())
			if t == nil {
				return nil
			}
			return r.fac.NewMemberCall(r.id(), c.FunctionName(), t, args...)
		}
		return r.fac.NewCall(r.id(), c.FunctionName(), args...)
	}
	return nil
}
