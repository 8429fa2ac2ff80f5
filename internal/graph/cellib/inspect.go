package cellib

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
)

// OmitFunction is the name of the omit() sentinel function. kro allows it
// only in standalone template values; the compiler rejects it in string
// templates, includeWhen, readyWhen and forEach (see CallsFunction).
const OmitFunction = "omit"

// CallsFunction reports whether a compiled or parsed expression calls any of
// the named functions (e.g. OmitFunction, NewConditionFunction). Names are
// the qualified function names as written in CEL, such as "runtime.condition".
func CallsFunction(a *cel.Ast, names ...string) bool {
	if a == nil {
		return false
	}
	root := ast.NavigateAST(a.NativeRep())
	for _, name := range names {
		if len(ast.MatchDescendants(root, ast.FunctionMatcher(name))) > 0 {
			return true
		}
	}
	return false
}
