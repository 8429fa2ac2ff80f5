package graph

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
	exprpb "google.golang.org/genproto/googleapis/api/expr/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/utils/lru"

	"github.com/korvid/korvid/internal/graph/cellib"
)

// baseEnv is the CEL environment with every library and no variables. It is
// built once per process.
var baseEnv = sync.OnceValues(func() (*cel.Env, error) {
	env, err := cellib.BaseEnv()
	if err != nil {
		return nil, err
	}
	return env.Extend(cel.EnableIdentifierEscapeSyntax())
})

// Parsing is the costliest step of compiling most expressions (cel-go's
// generated parser), and every RGD admission compiles its whole graph again:
// the same expressions, parsed the same way, since the parser's options come
// from baseEnv alone (graphs extend it with variables and types, which only
// checking reads). parsed keeps the parse of recent expressions, as the
// immutable protobuf form; each use gets a fresh AST from it, since
// rewriting and checking change the AST they are given. Expressions that
// do not parse are not kept: their errors are rare and reported in full.
var parsed = lru.New(parsedEntries)

const (
	// parsedEntries bounds the number of expressions kept, and
	// parsedMaxSource the length of one (longer ones are parsed each time),
	// so the cache holds a few MB at most whatever RGDs it is shown.
	parsedEntries   = 2048
	parsedMaxSource = 512
)

// parse parses src in env (an extension of baseEnv), from the cache when
// it can.
func parse(env *cel.Env, src string) (*cel.Ast, *cel.Issues) {
	if len(src) > parsedMaxSource {
		return env.Parse(src)
	}
	if pe, ok := parsed.Get(src); ok {
		return cel.ParsedExprToAstWithSource(pe.(*exprpb.ParsedExpr), common.NewTextSource(src)), nil
	}
	ast, iss := env.Parse(src)
	if iss != nil && iss.Err() != nil {
		return ast, iss
	}
	if pe, err := cel.AstToParsedExpr(ast); err == nil {
		parsed.Add(src, pe)
	}
	return ast, iss
}

// celExpr is one compiled expression at one place of the RGD.
type celExpr struct {
	src string
	// path is where the expression sits in the RGD, for the errors
	// evaluation builds.
	path string
	out  *cel.Type
	// refs are the graph variables (resource ids, iterators, each, schema)
	// the expression references, sorted.
	refs []string
	// ids are the resource ids among refs, sorted.
	ids []string
	// omits reports a call to omit() somewhere in the expression.
	omits bool
	// clock reports a call to time.now(): the value depends on when the
	// expression runs.
	clock bool
	// formats are the format trees of the graph's variables.
	formats map[string]*formatNode
	// conds are the literal condition types the expression builds and reads.
	conds cellib.ConditionUse
	// cost is the expression's estimated cost over the largest values its
	// variables' schemas allow.
	cost uint64
	prog *lazyProgram
}

// lazyProgram plans a checked expression on first use: the admission
// webhook only needs the checks, the controller plans each expression once.
type lazyProgram struct {
	// loops is true when the expression has a comprehension (a macro such
	// as all, map or filter): only those check the context while they run,
	// so only those are evaluated with it (see evalCtx.eval).
	loops bool
	once  sync.Once
	env   *cel.Env
	ast   *cel.Ast
	opts  []cel.ProgramOption
	prg   cel.Program
	err   error
}

func (l *lazyProgram) program() (cel.Program, error) {
	l.once.Do(func() {
		l.prg, l.err = l.env.Program(l.ast, l.opts...)
		l.ast = nil
	})
	return l.prg, l.err
}

// withinLimitAtWorst reports whether an expression without a loop can be
// shown never to reach the runtime cost limit: it calls only CEL's own
// operators and conversions, whose estimated costs bound their actual ones,
// and its estimate stays within the limit with every value at the largest
// size the API server accepts (worstSizes), whatever the schema's size
// assumptions (which are not bounds).
func (g *graphEnv) withinLimitAtWorst(a *cel.Ast) bool {
	ok := true
	celast.PostOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.CallKind && !boundedCalls[e.AsCall().FunctionName()] {
			ok = false
		}
	}))
	if !ok {
		return false
	}
	est, err := g.env.EstimateCost(a, worstSizes{})
	return err == nil && est.Max <= g.opts.RuntimeCostLimit
}

// boundedCalls are the functions withinLimitAtWorst lets through.
var boundedCalls = map[string]bool{
	operators.Add: true, operators.Subtract: true, operators.Multiply: true, operators.Divide: true,
	operators.Modulo: true, operators.Negate: true,
	operators.Equals: true, operators.NotEquals: true, operators.Less: true, operators.LessEquals: true,
	operators.Greater: true, operators.GreaterEquals: true,
	operators.LogicalAnd: true, operators.LogicalOr: true, operators.LogicalNot: true,
	operators.Conditional: true, operators.Index: true, operators.OptIndex: true, operators.OptSelect: true,
	operators.NotStrictlyFalse: true,
	overloads.Size:             true, overloads.TypeConvertString: true, overloads.TypeConvertInt: true,
	overloads.TypeConvertUint: true, overloads.TypeConvertDouble: true, overloads.TypeConvertBool: true,
	"orValue": true, "hasValue": true, "value": true, "optional.of": true, "optional.none": true,
}

// worstSizes sizes every string, bytes, list and map an expression reads at
// the API server's request size limit (3 MiB, more than any list's number
// of items): an upper bound for anything Kubernetes stores. What a call
// returns is left to the checker, which sizes it from its operands.
type worstSizes struct{}

func (worstSizes) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	if n.Expr().Kind() == celast.CallKind {
		return nil
	}
	return sizeOfKind(n.Type(), cellib.MaxRequestBytes, cellib.MaxRequestBytes)
}

func (worstSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// hasComprehension reports whether a checked expression has a comprehension.
func hasComprehension(a *cel.Ast) bool {
	found := false
	celast.PostOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.ComprehensionKind {
			found = true
		}
	}))
	return found
}

// checkedExpr is the outcome of checking one source in one environment,
// shared by every place the same source appears.
type checkedExpr struct {
	expr   *celExpr
	detail string // non-empty when the expression is rejected
}

// graphEnv is the checking environment of one graph.
type graphEnv struct {
	env  *cel.Env
	reg  *typeRegistry
	opts Options
	// vars maps variable names to their declaration (for cost size estimates
	// and status schema inference).
	vars map[string]*apiservercel.DeclType
	// ids are the resource ids declared in env.
	ids map[string]bool
	// formats are the format trees of resource ids whose values need
	// converting before evaluation.
	formats map[string]*formatNode
	// memo holds the expressions already checked in env, by source.
	memo map[string]*checkedExpr
	// clock is set when an expression of the graph calls time.now(); it is
	// shared by the environments extended from this one.
	clock *bool
	// costly collects the expressions whose estimated cost is above the
	// runtime cost limit; shared like clock.
	costly *[]CostlyExpression
	// reads collects the fields of resources' objects the expressions
	// read; shared like clock.
	reads *readSet
}

func (g *graphEnv) extend(vars map[string]*apiservercel.DeclType) (*graphEnv, error) {
	names := slices.Sorted(maps.Keys(vars))
	opts := make([]cel.EnvOption, 0, len(names))
	all := make(map[string]*apiservercel.DeclType, len(g.vars)+len(vars))
	for n, d := range g.vars {
		all[n] = d
	}
	for _, n := range names {
		opts = append(opts, cel.Variable(n, vars[n].CelType()))
		all[n] = vars[n]
	}
	env, err := g.env.Extend(opts...)
	if err != nil {
		return nil, err
	}
	return &graphEnv{env: env, reg: g.reg, opts: g.opts, vars: all, ids: g.ids, formats: g.formats, memo: map[string]*checkedExpr{}, clock: g.clock, costly: g.costly, reads: g.reads}, nil
}

// compile parses and checks src, estimates its cost and prepares its
// program. Identical sources are checked once per environment.
func (g *graphEnv) compile(src string, path *field.Path) (*celExpr, *field.Error) {
	if g.memo == nil {
		g.memo = map[string]*checkedExpr{}
	}
	ce, ok := g.memo[src]
	if !ok {
		ce = g.check(src)
		g.memo[src] = ce
	}
	if ce.detail != "" {
		return nil, field.Invalid(path, "${"+src+"}", ce.detail)
	}
	e := *ce.expr
	e.path = path.String()
	if e.clock && g.clock != nil {
		*g.clock = true
	}
	if g.costly != nil && g.opts.RuntimeCostLimit > 0 && e.cost > g.opts.RuntimeCostLimit {
		*g.costly = append(*g.costly, CostlyExpression{Path: path.String(), Expression: src, EstimatedCost: e.cost})
	}
	return &e, nil
}

func (g *graphEnv) check(src string) *checkedExpr {
	ast, iss := parse(g.env, src)
	if iss == nil || iss.Err() == nil {
		rewriteNullComparisons(ast)
		ast, iss = g.env.Check(ast)
	}
	if iss != nil && iss.Err() != nil {
		return &checkedExpr{detail: fmt.Sprintf("expression %q does not compile: %s", src, describeIssues(iss.Err().Error()))}
	}
	e := &celExpr{src: src, out: ast.OutputType(), omits: cellib.CallsFunction(ast, "omit"), clock: cellib.CallsFunction(ast, cellib.NowFunction), formats: g.formats}
	e.refs, e.ids = g.references(ast)
	if len(e.ids) > 0 {
		g.reads.record(ast.NativeRep().Expr(), g.ids)
	}
	e.conds = cellib.ConditionsOf(ast, varSchema)
	est, err := g.env.EstimateCost(ast, cellib.CostEstimator(&sizeEstimator{vars: g.vars}))
	if err != nil {
		return &checkedExpr{detail: fmt.Sprintf("expression %q: estimating its cost: %v", src, err)}
	}
	// kro sets no limit on the estimate; a positive MaxExpressionCost is a
	// stricter choice of the cluster. Evaluation is bounded either way (the
	// runtime cost limit and the caller's context).
	if g.opts.MaxExpressionCost > 0 && est.Max > g.opts.MaxExpressionCost {
		return &checkedExpr{detail: fmt.Sprintf("expression %q has an estimated cost of %d, above the limit of %d; bound the sizes it iterates over (maxItems, maxLength) or simplify it", src, est.Max, g.opts.MaxExpressionCost)}
	}
	e.cost = est.Max
	loops := hasComprehension(ast)
	opts := cellib.ProgramOptions(g.opts.RuntimeCostLimit)
	if !loops && g.withinLimitAtWorst(ast) {
		// The limit has nothing to stop: the cost is not tracked while the
		// expression runs. Tracking was about a third of a short
		// expression's evaluation time.
		opts = cellib.UntrackedProgramOptions()
	}
	e.prog = &lazyProgram{env: g.env, ast: ast, opts: opts, loops: loops}
	return &checkedExpr{expr: e}
}

// references lists the variables of the graph an expression uses, from the
// checked AST's reference map (so strings and field names never count).
func (g *graphEnv) references(ast *cel.Ast) (refs, ids []string) {
	seen := map[string]bool{}
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r == nil || r.Name == "" || len(r.OverloadIDs) > 0 {
			continue
		}
		if _, ok := g.vars[r.Name]; ok && !seen[r.Name] {
			seen[r.Name] = true
			refs = append(refs, r.Name)
			if g.ids[r.Name] {
				ids = append(ids, r.Name)
			}
		}
	}
	slices.Sort(refs)
	slices.Sort(ids)
	return refs, ids
}

// describeIssues trims cel-go's multi-line issue report to its messages.
func describeIssues(s string) string {
	var msgs []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "ERROR:") {
			continue
		}
		// ERROR: <input>:1:12: message
		rest := strings.TrimSpace(strings.TrimPrefix(line, "ERROR:"))
		if i := strings.Index(rest, ": "); i >= 0 && strings.HasPrefix(rest, "<input>") {
			rest = rest[i+2:]
		}
		msgs = append(msgs, rest)
	}
	if len(msgs) == 0 {
		return s
	}
	return strings.Join(msgs, "; ")
}

// typeName renders a CEL type for messages.
func typeName(t *cel.Type) string {
	if t == nil {
		return "unknown"
	}
	if t.Kind() == types.StructKind {
		return "object"
	}
	return t.String()
}

// sizeEstimator bounds the size of variables and their fields from the
// maxLength/maxItems/maxProperties of their schemas.
type sizeEstimator struct {
	vars map[string]*apiservercel.DeclType
}

func (s *sizeEstimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	path := n.Path()
	if len(path) == 0 {
		return defaultSize(n)
	}
	d, ok := s.vars[path[0]]
	if !ok || d == nil {
		return defaultSize(n)
	}
	for _, seg := range path[1:] {
		switch seg {
		case "@items", "@values":
			d = d.ElemType
		case "@keys":
			d = d.KeyType
		default:
			f, ok := d.Fields[seg]
			if !ok {
				return defaultSize(n)
			}
			d = f.Type
		}
		if d == nil {
			return nil
		}
	}
	if d.MaxElements <= 0 {
		return defaultSize(n)
	}
	return &checker.SizeEstimate{Min: 0, Max: uint64(d.MaxElements)}
}

// defaultSize bounds values nothing else bounds (results of optional
// selections, dyn fields) by the same defaults as unbounded schema values.
func defaultSize(n checker.AstNode) *checker.SizeEstimate {
	return sizeOfKind(n.Type(), defaultMaxListItems, defaultMaxStringLength)
}

// sizeOfKind sizes a value of type t, or of the type an optional t holds:
// 1 for a scalar, at most maxItems for a list or map and at most maxLength
// for a string or bytes; nil for anything else.
func sizeOfKind(t *types.Type, maxItems, maxLength uint64) *checker.SizeEstimate {
	if t == nil {
		return nil
	}
	if t.Kind() == types.OpaqueKind && t.TypeName() == "optional_type" && len(t.Parameters()) == 1 {
		if t = t.Parameters()[0]; t.Kind() == types.NullTypeKind {
			return nil
		}
	}
	switch t.Kind() {
	case types.IntKind, types.UintKind, types.DoubleKind, types.BoolKind, types.NullTypeKind:
		return &checker.SizeEstimate{Min: 1, Max: 1}
	case types.ListKind, types.MapKind:
		return &checker.SizeEstimate{Min: 0, Max: maxItems}
	case types.StringKind, types.BytesKind:
		return &checker.SizeEstimate{Min: 0, Max: maxLength}
	}
	return nil
}

func (s *sizeEstimator) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}
