package graph

import (
	"slices"
	"sync"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// readSet records, for every resource id, which fields of its object the
// graph's expressions read: the paths of the field selections rooted at the
// id, or the whole object when an expression uses the id otherwise (passes
// it to a function, iterates over it, selects with a computed key). It is
// filled while expressions are checked and shared by the environments
// extended from the graph's.
type readSet struct {
	mu  sync.Mutex
	ids map[string]*fieldReads
}

// fieldReads are the reads of one resource's object.
type fieldReads struct {
	whole bool
	paths [][]string
}

func newReadSet() *readSet { return &readSet{ids: map[string]*fieldReads{}} }

// record adds the reads of a checked expression; ids are the resource ids.
func (r *readSet) record(e celast.Expr, ids map[string]bool) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.walk(e, ids)
}

func (r *readSet) add(id string, path []string) {
	fr := r.ids[id]
	if fr == nil {
		fr = &fieldReads{}
		r.ids[id] = fr
	}
	if len(path) == 0 {
		fr.whole = true
		return
	}
	fr.paths = append(fr.paths, path)
}

func (r *readSet) walk(e celast.Expr, ids map[string]bool) {
	root, path := selection(e)
	if root.Kind() == celast.IdentKind {
		if id := root.AsIdent(); ids[id] {
			r.add(id, path)
		}
		return
	}
	if len(path) > 0 {
		r.walk(root, ids)
		return
	}
	switch e.Kind() {
	case celast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() {
			r.walk(c.Target(), ids)
		}
		for _, a := range c.Args() {
			r.walk(a, ids)
		}
	case celast.ListKind:
		for _, el := range e.AsList().Elements() {
			r.walk(el, ids)
		}
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			me := en.AsMapEntry()
			r.walk(me.Key(), ids)
			r.walk(me.Value(), ids)
		}
	case celast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			r.walk(f.AsStructField().Value(), ids)
		}
	case celast.ComprehensionKind:
		c := e.AsComprehension()
		for _, x := range []celast.Expr{c.IterRange(), c.AccuInit(), c.LoopCondition(), c.LoopStep(), c.Result()} {
			r.walk(x, ids)
		}
	}
}

// selection unwinds a chain of field selections (x.f, has(x.f), x.?f,
// x["f"], x[?"f"]) down to the expression it starts from, and returns that
// expression and the fields selected, outermost last.
func selection(e celast.Expr) (celast.Expr, []string) {
	var path []string
	for {
		if e.Kind() == celast.SelectKind {
			s := e.AsSelect()
			path = append(path, s.FieldName())
			e = s.Operand()
			continue
		}
		if e.Kind() == celast.CallKind {
			c := e.AsCall()
			switch c.FunctionName() {
			case operators.Index, operators.OptIndex, operators.OptSelect:
				if args := c.Args(); len(args) == 2 && args[1].Kind() == celast.LiteralKind {
					if key, ok := args[1].AsLiteral().(types.String); ok {
						path = append(path, string(key))
						e = args[0]
						continue
					}
				}
			}
		}
		slices.Reverse(path)
		return e, path
	}
}

// ReadsEqual reports whether every field of resource id's object that an
// expression of the graph reads has the same value in a and b. It is false
// for a collection, an unknown id, and a resource some expression reads
// whole; true for a resource no expression reads.
func (g *Graph) ReadsEqual(id string, a, b map[string]any) bool {
	n := g.Node(id)
	if n == nil || n.Collection {
		return false
	}
	fr := g.reads[id]
	if fr == nil {
		return true
	}
	if fr.whole {
		return false
	}
	for _, p := range fr.paths {
		va, _, _ := unstructured.NestedFieldNoCopy(a, p...)
		vb, _, _ := unstructured.NestedFieldNoCopy(b, p...)
		if !apiequality.Semantic.DeepEqual(va, vb) {
			return false
		}
	}
	return true
}

// WritesStatus reports whether resource id's template sets a status (a
// kind without a status subresource takes it as written): a change of its
// status may then be drift to revert. Unknown ids write it, to be safe.
func (g *Graph) WritesStatus(id string) bool {
	return g.mayWrite(id, "status")
}

// WritesMetadataKey reports whether resource id's template may set the key
// of metadata.labels or metadata.annotations (field): true when the
// template names it, computes the map with an expression, or the id is
// unknown.
func (g *Graph) WritesMetadataKey(id, field, key string) bool {
	return g.mayWrite(id, "metadata", field, key)
}

// mayWrite reports whether the template of resource id may set the field
// at path.
func (g *Graph) mayWrite(id string, path ...string) bool {
	n := g.Node(id)
	if n == nil {
		return true
	}
	if n.prog == nil || n.prog.template == nil {
		return false // an externalRef writes nothing
	}
	t := n.prog.template
	for i, f := range path {
		switch t.kind {
		case tmplLiteral:
			lit, ok := t.lit.(map[string]any)
			if !ok {
				return false
			}
			_, has, _ := unstructured.NestedFieldNoCopy(lit, path[i:]...)
			return has
		case tmplObject:
			k, found := slices.BinarySearch(t.keys, f)
			if !found {
				return false
			}
			t = t.fields[k]
		default:
			return true // computed: any field may be set
		}
	}
	return true
}
