package cellib

import (
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/parser"
)

// Names of the condition functions. Both return map(string, string) with
// exactly the keys type, status, reason and message.
const (
	// NewConditionFunction builds a condition for the instance's
	// status.conditions: runtime.newCondition({type: 'Ready', status: 'True',
	// reason: 'AllGood', message: ''}). type and status are required, status
	// is True, False or Unknown; reason and message default to "".
	NewConditionFunction = "runtime.newCondition"
	// ConditionFunction returns the condition of a type from
	// obj.status.conditions: runtime.condition(deployment, 'Available'). A
	// missing condition (or status, or conditions list) yields a condition
	// whose four fields are all "", so .status can be compared directly.
	ConditionFunction = "runtime.condition"
)

// Condition keys.
const (
	condType    = "type"
	condStatus  = "status"
	condReason  = "reason"
	condMessage = "message"
)

var conditionKeys = []string{condType, condStatus, condReason, condMessage}

func isConditionKey(k string) bool {
	return k == condType || k == condStatus || k == condReason || k == condMessage
}

func validConditionStatus(s string) bool {
	return s == "True" || s == "False" || s == "Unknown"
}

// newConditionMacro lets authors write the condition's keys as bare words
// ({type: 'X', status: 'True'}), as kro does, and checks at parse time what a
// literal map makes checkable: only the four known keys, no duplicates, type
// and status present, literal statuses valid, literal types non-empty.
var newConditionMacro = parser.NewReceiverMacro("newCondition", 1,
	func(eh parser.ExprHelper, target ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
		if target == nil || target.Kind() != ast.IdentKind || target.AsIdent() != "runtime" {
			return nil, nil
		}
		arg := args[0]
		if arg.Kind() != ast.MapKind {
			return eh.NewCall(NewConditionFunction, arg), nil
		}
		seen := map[string]bool{}
		entries := make([]ast.EntryExpr, 0, len(arg.AsMap().Entries()))
		for _, e := range arg.AsMap().Entries() {
			me := e.AsMapEntry()
			key := me.Key()
			var name string
			switch {
			case key.Kind() == ast.IdentKind:
				name = key.AsIdent()
			case key.Kind() == ast.LiteralKind:
				s, ok := key.AsLiteral().(types.String)
				if !ok {
					return nil, eh.NewError(key.ID(), "runtime.newCondition: keys must be type, status, reason or message")
				}
				name = string(s)
			default:
				return nil, eh.NewError(key.ID(), "runtime.newCondition: keys must be written literally (type, status, reason, message)")
			}
			if !isConditionKey(name) {
				return nil, eh.NewError(key.ID(), fmt.Sprintf("runtime.newCondition: unknown key %q, expected type, status, reason or message", name))
			}
			if seen[name] {
				return nil, eh.NewError(key.ID(), fmt.Sprintf("runtime.newCondition: duplicate key %q", name))
			}
			seen[name] = true
			val := me.Value()
			if val.Kind() == ast.LiteralKind {
				if s, ok := val.AsLiteral().(types.String); ok {
					if name == condStatus && !validConditionStatus(string(s)) {
						return nil, eh.NewError(val.ID(), fmt.Sprintf("runtime.newCondition: status must be True, False or Unknown, got %q", string(s)))
					}
					if name == condType && s == "" {
						return nil, eh.NewError(val.ID(), "runtime.newCondition: type must not be empty")
					}
				}
			}
			entries = append(entries, eh.NewMapEntry(eh.NewLiteral(types.String(name)), val, me.IsOptional()))
		}
		for _, required := range []string{condType, condStatus} {
			if !seen[required] {
				return nil, eh.NewError(arg.ID(), fmt.Sprintf("runtime.newCondition: %q is required", required))
			}
		}
		return eh.NewCall(NewConditionFunction, eh.NewMap(entries...)), nil
	})

func newCondition(arg ref.Val) ref.Val {
	m, ok := arg.(traits.Mapper)
	if !ok {
		return types.NewErr("runtime.newCondition: expected a map, got %s", arg.Type().TypeName())
	}
	out := map[string]string{condReason: "", condMessage: ""}
	for it := m.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		ks, ok := k.(types.String)
		if !ok || !isConditionKey(string(ks)) {
			return types.NewErr("runtime.newCondition: unknown key %v, expected type, status, reason or message", k)
		}
		v := m.Get(k)
		if types.IsError(v) {
			return v
		}
		vs, ok := v.(types.String)
		if !ok {
			return types.NewErr("runtime.newCondition: %s must be a string, got %s", string(ks), v.Type().TypeName())
		}
		out[string(ks)] = string(vs)
	}
	if out[condType] == "" {
		return types.NewErr("runtime.newCondition: type is required and must not be empty")
	}
	status, ok := out[condStatus]
	if !ok {
		return types.NewErr("runtime.newCondition: status is required")
	}
	if !validConditionStatus(status) {
		return types.NewErr("runtime.newCondition: status must be True, False or Unknown, got %q", status)
	}
	return types.NewStringStringMap(types.DefaultTypeAdapter, out)
}

func findCondition(objVal, typeVal ref.Val) ref.Val {
	want, ok := typeVal.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(typeVal)
	}
	conds, errVal := conditionList(objVal)
	if errVal != nil {
		return errVal
	}
	for _, c := range conds {
		if t, ok := c.Find(types.String(condType)); ok && t.Equal(want) == types.True {
			out := make(map[string]string, len(conditionKeys))
			for _, k := range conditionKeys {
				out[k] = ""
				if v, ok := c.Find(types.String(k)); ok {
					if s, ok := v.(types.String); ok {
						out[k] = string(s)
					}
				}
			}
			return types.NewStringStringMap(types.DefaultTypeAdapter, out)
		}
	}
	return types.NewStringStringMap(types.DefaultTypeAdapter, map[string]string{
		condType: "", condStatus: "", condReason: "", condMessage: "",
	})
}

// conditionList returns the maps in obj.status.conditions; a missing status
// or conditions field is an empty list.
func conditionList(objVal ref.Val) ([]traits.Mapper, ref.Val) {
	obj, ok := objVal.(traits.Mapper)
	if !ok {
		return nil, types.NewErr("runtime.condition: expected an object, got %s", objVal.Type().TypeName())
	}
	statusVal, found := obj.Find(types.String("status"))
	if !found || statusVal == types.NullValue {
		return nil, nil
	}
	status, ok := statusVal.(traits.Mapper)
	if !ok {
		return nil, types.NewErr("runtime.condition: status is a %s, expected an object", statusVal.Type().TypeName())
	}
	condsVal, found := status.Find(types.String("conditions"))
	if !found || condsVal == types.NullValue {
		return nil, nil
	}
	conds, ok := condsVal.(traits.Lister)
	if !ok {
		return nil, types.NewErr("runtime.condition: status.conditions is a %s, expected a list", condsVal.Type().TypeName())
	}
	var out []traits.Mapper
	for it := conds.Iterator(); it.HasNext() == types.True; {
		if m, ok := it.Next().(traits.Mapper); ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// conditionsOf is conditionList without errors, for cost tracking.
func conditionsOf(objVal ref.Val) []traits.Mapper {
	c, _ := conditionList(objVal)
	return c
}

// ConditionUse lists, for a checked or parsed expression, the literal
// condition types it builds with runtime.newCondition and the literal types
// it reads from the instance with runtime.condition(schema, 'X').
type ConditionUse struct {
	Defines []string
	Reads   []string
}

// ConditionsOf inspects an expression's AST for its condition use.
func ConditionsOf(a *cel.Ast, instanceVar string) ConditionUse {
	var out ConditionUse
	ast.PostOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.CallKind {
			return
		}
		c := e.AsCall()
		switch c.FunctionName() {
		case NewConditionFunction:
			if len(c.Args()) != 1 || c.Args()[0].Kind() != ast.MapKind {
				return
			}
			for _, entry := range c.Args()[0].AsMap().Entries() {
				me := entry.AsMapEntry()
				if k, ok := literalString(me.Key()); ok && k == condType {
					if v, ok := literalString(me.Value()); ok {
						out.Defines = append(out.Defines, v)
					}
				}
			}
		case ConditionFunction:
			if len(c.Args()) != 2 || c.Args()[0].Kind() != ast.IdentKind || c.Args()[0].AsIdent() != instanceVar {
				return
			}
			if v, ok := literalString(c.Args()[1]); ok {
				out.Reads = append(out.Reads, v)
			}
		}
	}))
	return out
}

func literalString(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}
