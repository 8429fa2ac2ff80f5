package cellib

import (
	"bytes"
	"crypto/md5" //nolint:gosec // kro offers hash.md5 for compatibility, not for security.
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
)

// Overload ids of kro's functions.
const (
	overloadFNV64a        = "kro_hash_fnv64a_string"
	overloadSHA256        = "kro_hash_sha256_string"
	overloadMD5           = "kro_hash_md5_string"
	overloadJSONMarshal   = "kro_json_marshal_dyn"
	overloadJSONUnmarshal = "kro_json_unmarshal_string"
	overloadSeededString  = "kro_random_seeded_string_int_string"
	overloadSeededInt     = "kro_random_seeded_int_int_int_string"
	overloadMerge         = "kro_map_merge_map"
	overloadDeepMerge     = "kro_map_deep_merge_map"
	overloadSetAtIndex    = "kro_lists_set_at_index_list_int_T"
	overloadInsertAtIndex = "kro_lists_insert_at_index_list_int_T"
	overloadRemoveAtIndex = "kro_lists_remove_at_index_list_int"
	overloadOmit          = "kro_omit"
	overloadNewCondition  = "kro_runtime_new_condition_map"
	overloadCondition     = "kro_runtime_condition_dyn_string"
)

// MaxSeededStringLength bounds the length random.seededString accepts.
const MaxSeededStringLength = 1 << 16

// MaxRequestBytes is the API server's limit on a request's body: nothing
// stored in Kubernetes is larger.
const MaxRequestBytes = 3 << 20

// unknownSize is assumed for values whose size neither the expression nor
// the size estimator fixes.
var unknownSize = checker.SizeEstimate{Min: 0, Max: MaxRequestBytes}

const alphanumeric = "0123456789abcdefghijklmnopqrstuvwxyz"

type kroLib struct{}

func (kroLib) LibraryName() string { return "korvid.kro" }

func (kroLib) CompileOptions() []cel.EnvOption {
	listT := cel.ListType(cel.TypeParamType("T"))
	paramT := cel.TypeParamType("T")
	mapKV := cel.MapType(cel.TypeParamType("K"), cel.TypeParamType("V"))
	condition := cel.MapType(cel.StringType, cel.StringType)

	opts := []cel.EnvOption{
		cel.Function("hash.fnv64a", cel.Overload(overloadFNV64a, []*cel.Type{cel.StringType}, cel.BytesType,
			cel.UnaryBinding(stringFunc(func(s string) ref.Val {
				h := fnv.New64a()
				_, _ = h.Write([]byte(s))
				return types.Bytes(h.Sum(nil))
			})))),
		cel.Function("hash.sha256", cel.Overload(overloadSHA256, []*cel.Type{cel.StringType}, cel.BytesType,
			cel.UnaryBinding(stringFunc(func(s string) ref.Val {
				sum := sha256.Sum256([]byte(s))
				return types.Bytes(sum[:])
			})))),
		cel.Function("hash.md5", cel.Overload(overloadMD5, []*cel.Type{cel.StringType}, cel.BytesType,
			cel.UnaryBinding(stringFunc(func(s string) ref.Val {
				sum := md5.Sum([]byte(s)) //nolint:gosec // see import
				return types.Bytes(sum[:])
			})))),

		cel.Function("json.marshal", cel.Overload(overloadJSONMarshal, []*cel.Type{cel.DynType}, cel.StringType,
			cel.UnaryBinding(jsonMarshal))),
		cel.Function("json.unmarshal", cel.Overload(overloadJSONUnmarshal, []*cel.Type{cel.StringType}, cel.DynType,
			cel.UnaryBinding(stringFunc(jsonUnmarshal)))),

		cel.Function("random.seededString", cel.Overload(overloadSeededString,
			[]*cel.Type{cel.IntType, cel.StringType}, cel.StringType, cel.BinaryBinding(seededString))),
		cel.Function("random.seededInt", cel.Overload(overloadSeededInt,
			[]*cel.Type{cel.IntType, cel.IntType, cel.StringType}, cel.IntType, cel.FunctionBinding(seededInt))),

		cel.Function("merge", cel.MemberOverload(overloadMerge, []*cel.Type{mapKV, mapKV}, mapKV,
			cel.BinaryBinding(func(l, r ref.Val) ref.Val { return mergeMaps("merge", l, r, false) }))),
		cel.Function("deepMerge", cel.MemberOverload(overloadDeepMerge, []*cel.Type{mapKV, mapKV}, mapKV,
			cel.BinaryBinding(func(l, r ref.Val) ref.Val { return mergeMaps("deepMerge", l, r, true) }))),

		cel.Function("lists.setAtIndex", cel.Overload(overloadSetAtIndex,
			[]*cel.Type{listT, cel.IntType, paramT}, listT, cel.FunctionBinding(setAtIndex))),
		cel.Function("lists.insertAtIndex", cel.Overload(overloadInsertAtIndex,
			[]*cel.Type{listT, cel.IntType, paramT}, listT, cel.FunctionBinding(insertAtIndex))),
		cel.Function("lists.removeAtIndex", cel.Overload(overloadRemoveAtIndex,
			[]*cel.Type{listT, cel.IntType}, listT, cel.BinaryBinding(removeAtIndex))),

		cel.Function(OmitFunction, cel.Overload(overloadOmit, nil, cel.DynType,
			cel.FunctionBinding(func(...ref.Val) ref.Val { return omitValue }))),

		cel.Function(NewConditionFunction, cel.Overload(overloadNewCondition,
			[]*cel.Type{condition}, condition, cel.UnaryBinding(newCondition))),
		cel.Function(ConditionFunction, cel.Overload(overloadCondition,
			[]*cel.Type{cel.DynType, cel.StringType}, condition, cel.BinaryBinding(findCondition))),
		cel.Macros(newConditionMacro),
	}
	estimators := make([]checker.CostOption, 0, len(kroCosts))
	for id, c := range kroCosts {
		estimators = append(estimators, checker.OverloadCostEstimate(id,
			func(est checker.CostEstimator, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
				return c.estimate(est, target, args)
			}))
	}
	return append(opts, cel.CostEstimatorOptions(estimators...))
}

func (kroLib) ProgramOptions() []cel.ProgramOption {
	trackers := make([]interpreter.CostTrackerOption, 0, len(kroCosts))
	for id, c := range kroCosts {
		trackers = append(trackers, interpreter.OverloadCostTracker(id, c.track))
	}
	return []cel.ProgramOption{cel.CostTrackerOptions(trackers...)}
}

// stringFunc adapts a function of a Go string to a CEL unary binding.
func stringFunc(fn func(string) ref.Val) func(ref.Val) ref.Val {
	return func(v ref.Val) ref.Val {
		s, ok := v.(types.String)
		if !ok {
			return types.MaybeNoSuchOverloadErr(v)
		}
		return fn(string(s))
	}
}

func jsonMarshal(v ref.Val) ref.Val {
	native, err := ToNative(v)
	if err != nil {
		return types.NewErr("json.marshal: %v", err)
	}
	out, err := json.Marshal(native)
	if err != nil {
		return types.NewErr("json.marshal: %v", err)
	}
	return types.String(out)
}

func jsonUnmarshal(s string) ref.Val {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return types.NewErr("json.unmarshal: invalid JSON: %v", err)
	}
	if dec.More() {
		return types.NewErr("json.unmarshal: invalid JSON: unexpected data after the top-level value")
	}
	return types.DefaultTypeAdapter.NativeToValue(fromJSONNumbers(out))
}

// fromJSONNumbers turns json.Number into int64 when the number is an integer
// that fits, float64 otherwise, so integers stay integers (replicas, ports).
func fromJSONNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case map[string]any:
		for k, e := range t {
			t[k] = fromJSONNumbers(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = fromJSONNumbers(e)
		}
		return t
	}
	return v
}

// seededString derives a string of n characters from [0-9a-z] from the
// SHA-256 digest of the seed: character i is picked by the big-endian 32-bit
// word at byte offset 4*i (mod 32) of the digest, modulo 36. The output is
// identical to kro's for the same arguments.
func seededString(lenVal, seedVal ref.Val) ref.Val {
	n, ok := lenVal.(types.Int)
	if !ok {
		return types.MaybeNoSuchOverloadErr(lenVal)
	}
	seed, ok := seedVal.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(seedVal)
	}
	if n <= 0 {
		return types.NewErr("random.seededString: length must be positive, got %d", int64(n))
	}
	if n > MaxSeededStringLength {
		return types.NewErr("random.seededString: length %d exceeds the maximum of %d", int64(n), MaxSeededStringLength)
	}
	sum := sha256.Sum256([]byte(seed))
	out := make([]byte, n)
	for i := range out {
		off := (i * 4) % len(sum)
		word := binary.BigEndian.Uint32(sum[off : off+4])
		out[i] = alphanumeric[word%uint32(len(alphanumeric))]
	}
	return types.String(out)
}

// seededInt derives an integer in [min, max) from the SHA-256 digest of the
// seed (its first 8 bytes, big-endian, modulo the range size), identical to
// kro's for the same arguments.
func seededInt(args ...ref.Val) ref.Val {
	if len(args) != 3 {
		return types.NewErr("random.seededInt: expected 3 arguments, got %d", len(args))
	}
	lo, ok1 := args[0].(types.Int)
	hi, ok2 := args[1].(types.Int)
	seed, ok3 := args[2].(types.String)
	if !ok1 || !ok2 || !ok3 {
		return types.NoSuchOverloadErr()
	}
	if lo >= hi {
		return types.NewErr("random.seededInt: min (%d) must be less than max (%d)", int64(lo), int64(hi))
	}
	sum := sha256.Sum256([]byte(seed))
	v := binary.BigEndian.Uint64(sum[:8])
	span := uint64(int64(hi) - int64(lo)) // two's complement: exact for any lo < hi
	return types.Int(int64(lo) + int64(v%span))
}

// mergeMaps returns a new map with the entries of both maps; on a shared key
// the right-hand value wins, or, with deep, two map values are merged in turn.
func mergeMaps(fn string, lhs, rhs ref.Val, deep bool) ref.Val {
	l, lok := lhs.(traits.Mapper)
	r, rok := rhs.(traits.Mapper)
	if !lok || !rok {
		return types.NewErr("%s: no such overload for %s.%s(%s)", fn, lhs.Type().TypeName(), fn, rhs.Type().TypeName())
	}
	out := make(map[ref.Val]ref.Val, int(sizeOf(l))+int(sizeOf(r)))
	for it := l.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		v := l.Get(k)
		if types.IsError(v) {
			return v
		}
		out[k] = v
	}
	for it := r.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		v := r.Get(k)
		if types.IsError(v) {
			return v
		}
		if old, seen := out[k]; seen && deep {
			om, ok1 := old.(traits.Mapper)
			vm, ok2 := v.(traits.Mapper)
			if ok1 && ok2 {
				v = mergeMaps(fn, om, vm, true)
				if types.IsError(v) {
					return v
				}
			}
		}
		out[k] = v
	}
	return types.NewRefValMap(types.DefaultTypeAdapter, out)
}

func listArgs(fn string, listVal, idxVal ref.Val) (traits.Lister, int64, int64, ref.Val) {
	list, ok := listVal.(traits.Lister)
	if !ok {
		return nil, 0, 0, types.MaybeNoSuchOverloadErr(listVal)
	}
	idx, ok := idxVal.(types.Int)
	if !ok {
		return nil, 0, 0, types.MaybeNoSuchOverloadErr(idxVal)
	}
	size, ok := list.Size().(types.Int)
	if !ok {
		return nil, 0, 0, types.NewErr("%s: list has no size", fn)
	}
	return list, int64(idx), int64(size), nil
}

func setAtIndex(args ...ref.Val) ref.Val {
	if len(args) != 3 {
		return types.NewErr("lists.setAtIndex: expected 3 arguments, got %d", len(args))
	}
	list, idx, size, errVal := listArgs("lists.setAtIndex", args[0], args[1])
	if errVal != nil {
		return errVal
	}
	if idx < 0 || idx >= size {
		return types.NewErr("lists.setAtIndex: index %d out of range [0, %d)", idx, size)
	}
	out := make([]ref.Val, size)
	for i := range size {
		out[i] = list.Get(types.Int(i))
	}
	out[idx] = args[2]
	return types.NewRefValList(types.DefaultTypeAdapter, out)
}

func insertAtIndex(args ...ref.Val) ref.Val {
	if len(args) != 3 {
		return types.NewErr("lists.insertAtIndex: expected 3 arguments, got %d", len(args))
	}
	list, idx, size, errVal := listArgs("lists.insertAtIndex", args[0], args[1])
	if errVal != nil {
		return errVal
	}
	if idx < 0 || idx > size {
		return types.NewErr("lists.insertAtIndex: index %d out of range [0, %d]", idx, size)
	}
	out := make([]ref.Val, 0, size+1)
	for i := range size {
		if i == idx {
			out = append(out, args[2])
		}
		out = append(out, list.Get(types.Int(i)))
	}
	if idx == size {
		out = append(out, args[2])
	}
	return types.NewRefValList(types.DefaultTypeAdapter, out)
}

func removeAtIndex(listVal, idxVal ref.Val) ref.Val {
	list, idx, size, errVal := listArgs("lists.removeAtIndex", listVal, idxVal)
	if errVal != nil {
		return errVal
	}
	if idx < 0 || idx >= size {
		return types.NewErr("lists.removeAtIndex: index %d out of range [0, %d)", idx, size)
	}
	out := make([]ref.Val, 0, size-1)
	for i := range size {
		if i != idx {
			out = append(out, list.Get(types.Int(i)))
		}
	}
	return types.NewRefValList(types.DefaultTypeAdapter, out)
}

// sizeOf returns the size of a sizer value, or 1.
func sizeOf(v ref.Val) uint64 {
	if s, ok := v.(traits.Sizer); ok {
		if n, ok := s.Size().(types.Int); ok && n > 0 {
			return uint64(n)
		}
		return 0
	}
	return 1
}

// Cost model of kro's functions.

type kroCost struct {
	estimate func(est checker.CostEstimator, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate
	track    func(args []ref.Val, result ref.Val) *uint64
}

func nodeSize(est checker.CostEstimator, n checker.AstNode) checker.SizeEstimate {
	if sz := n.ComputedSize(); sz != nil {
		return *sz
	}
	if est != nil {
		if sz := est.EstimateSize(n); sz != nil {
			return *sz
		}
	}
	return unknownSize
}

func fixed(n uint64) checker.CostEstimate { return checker.CostEstimate{Min: n, Max: n} }

func scan(n uint64) uint64 {
	return uint64(math.Ceil(float64(n) * common.StringTraversalCostFactor))
}

func costPtr(n uint64) *uint64 { return &n }

func argSize(args []ref.Val, i int) uint64 {
	if i < len(args) {
		return sizeOf(args[i])
	}
	return 0
}

func hashCost(digest uint64) kroCost {
	return kroCost{
		estimate: func(est checker.CostEstimator, _ *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
			if len(args) != 1 {
				return nil
			}
			c := nodeSize(est, args[0]).MultiplyByCostFactor(common.StringTraversalCostFactor).Add(fixed(1))
			return &checker.CallEstimate{CostEstimate: c, ResultSize: &checker.SizeEstimate{Min: digest, Max: digest}}
		},
		track: func(args []ref.Val, _ ref.Val) *uint64 { return costPtr(1 + scan(argSize(args, 0))) },
	}
}

func mapMergeCost(factor float64) kroCost {
	return kroCost{
		estimate: func(est checker.CostEstimator, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
			if target == nil || len(args) != 1 {
				return nil
			}
			l, r := nodeSize(est, *target), nodeSize(est, args[0])
			sum := checker.SizeEstimate{Min: max(l.Min, r.Min), Max: addSat(l.Max, r.Max)}
			c := sum.MultiplyByCostFactor(factor).Add(fixed(common.MapCreateBaseCost))
			return &checker.CallEstimate{CostEstimate: c, ResultSize: &sum}
		},
		track: func(args []ref.Val, result ref.Val) *uint64 {
			n := argSize(args, 0) + argSize(args, 1)
			if factor > 1 {
				n = countEntries(result)
			}
			return costPtr(common.MapCreateBaseCost + uint64(math.Ceil(float64(n)*factor)))
		},
	}
}

func listCopyCost(delta int) kroCost {
	return kroCost{
		estimate: func(est checker.CostEstimator, _ *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
			if len(args) < 2 {
				return nil
			}
			sz := nodeSize(est, args[0])
			res := sz
			switch {
			case delta > 0:
				res = checker.SizeEstimate{Min: sz.Min + 1, Max: addSat(sz.Max, 1)}
			case delta < 0 && sz.Min > 0:
				res = checker.SizeEstimate{Min: sz.Min - 1, Max: sz.Max - 1}
			}
			c := sz.MultiplyByCostFactor(1).Add(fixed(common.ListCreateBaseCost))
			return &checker.CallEstimate{CostEstimate: c, ResultSize: &res}
		},
		track: func(args []ref.Val, _ ref.Val) *uint64 {
			return costPtr(common.ListCreateBaseCost + argSize(args, 0))
		},
	}
}

func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// countEntries counts map entries and list elements, recursively.
func countEntries(v ref.Val) uint64 {
	var n uint64
	switch t := v.(type) {
	case traits.Mapper:
		for it := t.Iterator(); it.HasNext() == types.True; {
			n += 1 + countEntries(t.Get(it.Next()))
		}
	case traits.Lister:
		for it := t.Iterator(); it.HasNext() == types.True; {
			n += 1 + countEntries(it.Next())
		}
	}
	return n
}

var kroCosts = map[string]kroCost{
	overloadFNV64a: hashCost(8),
	overloadSHA256: hashCost(32),
	overloadMD5:    hashCost(16),
	overloadJSONMarshal: {
		estimate: func(est checker.CostEstimator, _ *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
			if len(args) != 1 {
				return nil
			}
			c := nodeSize(est, args[0]).MultiplyByCostFactor(common.StringTraversalCostFactor).Add(fixed(1))
			res := unknownSize
			return &checker.CallEstimate{CostEstimate: c, ResultSize: &res}
		},
		track: func(_ []ref.Val, result ref.Val) *uint64 { return costPtr(1 + scan(sizeOf(result))) },
	},
	overloadJSONUnmarshal: {
		estimate: func(est checker.CostEstimator, _ *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
			if len(args) != 1 {
				return nil
			}
			sz := nodeSize(est, args[0])
			c := sz.MultiplyByCostFactor(common.StringTraversalCostFactor).Add(fixed(1))
			return &checker.CallEstimate{CostEstimate: c, ResultSize: &sz}
		},
		track: func(args []ref.Val, _ ref.Val) *uint64 { return costPtr(1 + scan(argSize(args, 0))) },
	},
	overloadSeededString: {
		estimate: func(est checker.CostEstimator, _ *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
			if len(args) != 2 {
				return nil
			}
			n := checker.SizeEstimate{Min: 1, Max: MaxSeededStringLength}
			if e := args[0].Expr(); e.Kind() == ast.LiteralKind {
				if lit, ok := e.AsLiteral().(types.Int); ok && lit > 0 && lit <= MaxSeededStringLength {
					n = checker.SizeEstimate{Min: uint64(lit), Max: uint64(lit)}
				}
			}
			c := n.MultiplyByCostFactor(common.StringTraversalCostFactor).
				Add(nodeSize(est, args[1]).MultiplyByCostFactor(common.StringTraversalCostFactor)).Add(fixed(1))
			return &checker.CallEstimate{CostEstimate: c, ResultSize: &n}
		},
		track: func(args []ref.Val, result ref.Val) *uint64 {
			return costPtr(1 + scan(sizeOf(result)) + scan(argSize(args, 1)))
		},
	},
	overloadSeededInt: {
		estimate: func(est checker.CostEstimator, _ *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
			if len(args) != 3 {
				return nil
			}
			c := nodeSize(est, args[2]).MultiplyByCostFactor(common.StringTraversalCostFactor).Add(fixed(1))
			return &checker.CallEstimate{CostEstimate: c}
		},
		track: func(args []ref.Val, _ ref.Val) *uint64 { return costPtr(1 + scan(argSize(args, 2))) },
	},
	overloadMerge:         mapMergeCost(1),
	overloadDeepMerge:     mapMergeCost(2),
	overloadSetAtIndex:    listCopyCost(0),
	overloadInsertAtIndex: listCopyCost(1),
	overloadRemoveAtIndex: listCopyCost(-1),
	overloadOmit: {
		estimate: func(checker.CostEstimator, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
			return &checker.CallEstimate{CostEstimate: fixed(1)}
		},
		track: func([]ref.Val, ref.Val) *uint64 { return costPtr(1) },
	},
	overloadNewCondition: {
		estimate: func(checker.CostEstimator, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
			sz := checker.SizeEstimate{Min: 4, Max: 4}
			return &checker.CallEstimate{CostEstimate: fixed(common.MapCreateBaseCost + 4), ResultSize: &sz}
		},
		track: func([]ref.Val, ref.Val) *uint64 { return costPtr(common.MapCreateBaseCost + 4) },
	},
	overloadCondition: {
		estimate: func(checker.CostEstimator, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
			// The number of conditions an object carries is not in its
			// schema; objects rarely have more than a few dozen.
			sz := checker.SizeEstimate{Min: 4, Max: 4}
			return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: common.MapCreateBaseCost, Max: common.MapCreateBaseCost + 64}, ResultSize: &sz}
		},
		track: func(args []ref.Val, _ ref.Val) *uint64 {
			return costPtr(common.MapCreateBaseCost + uint64(len(conditionsOf(argOrNil(args, 0)))))
		},
	},
}

func argOrNil(args []ref.Val, i int) ref.Val {
	if i < len(args) {
		return args[i]
	}
	return types.NullValue
}
