package cellib

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testCostLimit = 1_000_000

// dynEnv is the base environment with untyped variables, as used for
// unstructured data.
func dynEnv(t testing.TB, vars ...string) *cel.Env {
	t.Helper()
	base, err := BaseEnv()
	require.NoError(t, err)
	opts := make([]cel.EnvOption, 0, len(vars))
	for _, v := range vars {
		opts = append(opts, cel.Variable(v, cel.DynType))
	}
	env, err := base.Extend(opts...)
	require.NoError(t, err)
	return env
}

func evalIn(t testing.TB, env *cel.Env, expr string, vars map[string]any, limit uint64) (ref.Val, error) {
	t.Helper()
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	prg, err := env.Program(ast, ProgramOptions(limit)...)
	require.NoError(t, err)
	if vars == nil {
		vars = map[string]any{}
	}
	out, _, err := prg.Eval(vars)
	return out, err
}

func eval(t testing.TB, expr string, vars map[string]any) (ref.Val, error) {
	t.Helper()
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	return evalIn(t, dynEnv(t, names...), expr, vars, testCostLimit)
}

var deployment = map[string]any{
	"apiVersion": "apps/v1",
	"kind":       "Deployment",
	"metadata":   map[string]any{"name": "web", "uid": "uid-1234", "labels": map[string]any{"app": "web"}},
	"spec":       map[string]any{"replicas": int64(3)},
	"status": map[string]any{
		"readyReplicas": int64(3),
		"conditions": []any{
			map[string]any{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "done", "lastUpdateTime": "2024-01-01T00:00:00Z"},
			map[string]any{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "not yet"},
		},
	},
}

func TestFunctions(t *testing.T) {
	vars := map[string]any{"deployment": deployment, "bare": map[string]any{"metadata": map[string]any{}}}
	tests := []struct {
		name string
		expr string
		want any
		err  string
	}{
		// hash: raw bytes, formatted by the caller.
		{name: "sha256 hex", expr: `"%x".format([hash.sha256("hello")])`, want: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},
		{name: "md5 hex", expr: `"%x".format([hash.md5("hello")])`, want: "5d41402abc4b2a76b9719d911017c592"},
		{name: "fnv64a hex", expr: `"%x".format([hash.fnv64a("hello")])`, want: "a430d84680aabd0b"},
		{name: "fnv64a size", expr: `size(hash.fnv64a(""))`, want: int64(8)},
		{name: "sha256 base64", expr: `base64.encode(hash.sha256("hello"))`, want: "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="},

		// json
		{name: "marshal sorts keys", expr: `json.marshal({"b": 1, "a": [true, null, "x", 1.5]})`, want: `{"a":[true,null,"x",1.5],"b":1}`},
		{name: "marshal object", expr: `json.marshal(deployment.metadata.labels)`, want: `{"app":"web"}`},
		{name: "marshal string", expr: `json.marshal("q\"")`, want: `"q\""`},
		{name: "marshal drops omitted entries", expr: `json.marshal({"a": omit(), "b": 2})`, want: `{"b":2}`},
		{name: "marshal of omit fails", expr: `json.marshal(omit())`, err: "value omitted"},
		{name: "unmarshal integer stays integer", expr: `json.unmarshal('{"replicas": 3}').replicas + 1`, want: int64(4)},
		{name: "unmarshal float", expr: `json.unmarshal('{"ratio": 0.5}').ratio`, want: 0.5},
		{name: "unmarshal list", expr: `json.unmarshal('["a", "b"]')[1]`, want: "b"},
		{name: "unmarshal null", expr: `json.unmarshal('null') == null`, want: true},
		{name: "round trip", expr: `json.unmarshal(json.marshal({"a": {"b": [1, 2]}})).a.b[1]`, want: int64(2)},
		{name: "unmarshal invalid", expr: `json.unmarshal('{bad')`, err: "json.unmarshal: invalid JSON"},
		{name: "unmarshal trailing data", expr: `json.unmarshal('{} {}')`, err: "unexpected data after"},

		// random: deterministic, same output as kro.
		{name: "seededString", expr: `random.seededString(10, "my-seed")`, want: "yfmgby05yf"},
		{name: "seededString longer than a digest", expr: `random.seededString(12, "abc")`, want: "r6qfjs5dr6qf"},
		{name: "seededString from object", expr: `size(random.seededString(5, deployment.metadata.uid))`, want: int64(5)},
		{name: "seededString zero", expr: `random.seededString(0, "x")`, err: "length must be positive"},
		{name: "seededString negative", expr: `random.seededString(-3, "x")`, err: "length must be positive"},
		{name: "seededString too long", expr: `random.seededString(100000000, "x")`, err: "exceeds the maximum"},
		{name: "seededInt", expr: `random.seededInt(30000, 32768, "uid-1234")`, want: int64(31108)},
		{name: "seededInt negative range", expr: `random.seededInt(-10, 10, "x")`, want: int64(6)},
		{name: "seededInt full range", expr: `random.seededInt(-9223372036854775808, 9223372036854775807, "x") != 0`, want: true},
		{name: "seededInt empty range", expr: `random.seededInt(5, 5, "x")`, err: "min (5) must be less than max (5)"},

		// maps
		{name: "merge right wins", expr: `{"a": 1, "b": 2}.merge({"b": 3, "c": 4})`, want: map[string]any{"a": int64(1), "b": int64(3), "c": int64(4)}},
		{name: "merge empty", expr: `{}.merge({"a": "x"})`, want: map[string]any{"a": "x"}},
		{name: "merge object labels", expr: `deployment.metadata.labels.merge({"tier": "fe"})`, want: map[string]any{"app": "web", "tier": "fe"}},
		{name: "merge is shallow", expr: `{"a": {"x": 1}}.merge({"a": {"y": 2}})`, want: map[string]any{"a": map[string]any{"y": int64(2)}}},
		{name: "merge leaves inputs alone", expr: `cel.bind(m, {"a": 1}, [m.merge({"a": 2}), m])`, want: []any{map[string]any{"a": int64(2)}, map[string]any{"a": int64(1)}}},
		{name: "deepMerge", expr: `{"a": {"x": 1, "y": 2}, "l": [1]}.deepMerge({"a": {"y": 3, "z": {"k": "v"}}, "l": [2]})`,
			want: map[string]any{"a": map[string]any{"x": int64(1), "y": int64(3), "z": map[string]any{"k": "v"}}, "l": []any{int64(2)}}},
		{name: "deepMerge map replaced by scalar", expr: `{"a": {"x": 1}, "b": 1}.deepMerge({"a": 5})`, want: map[string]any{"a": int64(5), "b": int64(1)}},

		// lists
		{name: "setAtIndex", expr: `lists.setAtIndex([1, 2, 3], 1, 99)`, want: []any{int64(1), int64(99), int64(3)}},
		{name: "setAtIndex out of range", expr: `lists.setAtIndex([1, 2, 3], 3, 99)`, err: "index 3 out of range [0, 3)"},
		{name: "setAtIndex negative", expr: `lists.setAtIndex([1], -1, 2)`, err: "index -1 out of range"},
		{name: "insertAtIndex middle", expr: `lists.insertAtIndex([1, 2, 3], 1, 99)`, want: []any{int64(1), int64(99), int64(2), int64(3)}},
		{name: "insertAtIndex append", expr: `lists.insertAtIndex([1, 2, 3], 3, 99)`, want: []any{int64(1), int64(2), int64(3), int64(99)}},
		{name: "insertAtIndex into empty", expr: `lists.insertAtIndex([], 0, "a")`, want: []any{"a"}},
		{name: "insertAtIndex out of range", expr: `lists.insertAtIndex([1], 2, 3)`, err: "index 2 out of range [0, 1]"},
		{name: "removeAtIndex", expr: `lists.removeAtIndex([1, 2, 3], 0)`, want: []any{int64(2), int64(3)}},
		{name: "removeAtIndex last", expr: `lists.removeAtIndex(["a", "b"], 1)`, want: []any{"a"}},
		{name: "removeAtIndex empty", expr: `lists.removeAtIndex([], 0)`, err: "index 0 out of range [0, 0)"},
		{name: "list functions leave input alone", expr: `cel.bind(l, [1, 2], [lists.setAtIndex(l, 0, 5), l])`, want: []any{[]any{int64(5), int64(2)}, []any{int64(1), int64(2)}}},
		{name: "list of objects", expr: `lists.removeAtIndex(deployment.status.conditions, 0)[0].type`, want: "Available"},

		// conditions
		{name: "newCondition bare keys", expr: `runtime.newCondition({type: 'Ready', status: 'True'})`,
			want: map[string]any{"type": "Ready", "status": "True", "reason": "", "message": ""}},
		{name: "newCondition all keys multi-line", expr: "runtime.newCondition({\n type: 'AppReady',\n status: deployment.status.readyReplicas > 0 ? 'True' : 'False',\n reason: 'ReplicaCount',\n message: 'ok'\n})",
			want: map[string]any{"type": "AppReady", "status": "True", "reason": "ReplicaCount", "message": "ok"}},
		{name: "newCondition quoted keys", expr: `runtime.newCondition({"type": "X", "status": "Unknown"}).status`, want: "Unknown"},
		{name: "newCondition computed status invalid", expr: `runtime.newCondition({type: 'X', status: deployment.kind})`, err: `status must be True, False or Unknown, got "Deployment"`},
		{name: "newCondition computed type empty", expr: `runtime.newCondition({type: deployment.metadata.labels.app.substring(3), status: 'True'})`, err: "type is required and must not be empty"},
		{name: "newCondition non-string reason", expr: `runtime.newCondition({type: 'X', status: 'True', reason: deployment.spec.replicas})`, err: "runtime.newCondition"},
		{name: "newCondition from a map value", expr: `cel.bind(m, {"type": "X", "status": "False"}, runtime.newCondition(m).status)`, want: "False"},
		{name: "newCondition from a map value missing status", expr: `cel.bind(m, {"type": "X"}, runtime.newCondition(m))`, err: "status is required"},
		{name: "condition found", expr: `runtime.condition(deployment, 'Available')`,
			want: map[string]any{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "not yet"}},
		{name: "condition status compare", expr: `runtime.condition(deployment, 'Progressing').status == 'True'`, want: true},
		{name: "condition missing", expr: `runtime.condition(deployment, 'Nope')`, want: map[string]any{"type": "", "status": "", "reason": "", "message": ""}},
		{name: "condition without status", expr: `runtime.condition(bare, 'Ready').status == ''`, want: true},
		{name: "condition on a non-object", expr: `runtime.condition(deployment.kind, 'Ready')`, err: "expected an object"},
		{name: "other receivers keep newCondition", expr: `cel.bind(runtimeish, 1, runtimeish + 1)`, want: int64(2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := eval(t, tc.expr, vars)
			if tc.err != "" {
				if err == nil {
					_, err = ToNative(out)
				}
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			got, err := ToNative(out)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestTypeCheckErrors(t *testing.T) {
	tests := []struct {
		name string
		expr string
		err  string
	}{
		{name: "sha256 of int", expr: `hash.sha256(1)`, err: "found no matching overload for 'hash.sha256'"},
		{name: "fnv64a result is not a string", expr: `hash.fnv64a("a") + "-x"`, err: "found no matching overload for '_+_'"},
		{name: "md5 two args", expr: `hash.md5("a", "b")`, err: "found no matching overload for 'hash.md5'"},
		{name: "unmarshal of int", expr: `json.unmarshal(1)`, err: "found no matching overload for 'json.unmarshal'"},
		{name: "marshal result is a string", expr: `json.marshal({}) + 1`, err: "found no matching overload for '_+_'"},
		{name: "seededString swapped", expr: `random.seededString("x", 5)`, err: "found no matching overload for 'random.seededString'"},
		{name: "seededInt string bound", expr: `random.seededInt(1, "9", "s")`, err: "found no matching overload for 'random.seededInt'"},
		{name: "seededInt result is int", expr: `random.seededInt(1, 9, "s") + "x"`, err: "found no matching overload for '_+_'"},
		{name: "merge mismatched value types", expr: `{"a": 1}.merge({"a": "x"})`, err: "found no matching overload for 'merge'"},
		{name: "merge with a list", expr: `{"a": 1}.merge([1])`, err: "found no matching overload for 'merge'"},
		{name: "deepMerge on a list", expr: `[1].deepMerge({"a": 1})`, err: "found no matching overload for 'deepMerge'"},
		{name: "setAtIndex wrong element type", expr: `lists.setAtIndex([1, 2], 0, "x")`, err: "found no matching overload for 'lists.setAtIndex'"},
		{name: "insertAtIndex string index", expr: `lists.insertAtIndex([1], "0", 1)`, err: "found no matching overload for 'lists.insertAtIndex'"},
		{name: "removeAtIndex on a map", expr: `lists.removeAtIndex({"a": 1}, 0)`, err: "found no matching overload for 'lists.removeAtIndex'"},
		{name: "omit with argument", expr: `omit(1)`, err: "found no matching overload for 'omit'"},
		{name: "newCondition missing status", expr: `runtime.newCondition({type: 'X'})`, err: `runtime.newCondition: "status" is required`},
		{name: "newCondition missing type", expr: `runtime.newCondition({status: 'True'})`, err: `runtime.newCondition: "type" is required`},
		{name: "newCondition bad literal status", expr: `runtime.newCondition({type: 'X', status: 'Yes'})`, err: `status must be True, False or Unknown, got "Yes"`},
		{name: "newCondition empty literal type", expr: `runtime.newCondition({type: '', status: 'True'})`, err: "type must not be empty"},
		{name: "newCondition unknown key", expr: `runtime.newCondition({type: 'X', status: 'True', severity: 'x'})`, err: `unknown key "severity"`},
		{name: "newCondition duplicate key", expr: `runtime.newCondition({type: 'X', status: 'True', type: 'Y'})`, err: `duplicate key "type"`},
		{name: "newCondition computed key", expr: `runtime.newCondition({'ty' + 'pe': 'X', status: 'True'})`, err: "keys must be written literally"},
		{name: "newCondition of a list", expr: `runtime.newCondition(['a'])`, err: "found no matching overload for 'runtime.newCondition'"},
		{name: "condition field is a string", expr: `runtime.condition(obj, 'X').status + 1`, err: "found no matching overload for '_+_'"},
		{name: "condition type not a string", expr: `runtime.condition(obj, 1)`, err: "found no matching overload for 'runtime.condition'"},
		{name: "unknown function", expr: `hash.crc32("x")`, err: "undeclared reference to 'hash'"},
	}
	env := dynEnv(t, "obj")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, iss := env.Compile(tc.expr)
			require.Error(t, iss.Err())
			assert.Contains(t, iss.Err().Error(), tc.err)
		})
	}
}

func TestLibraries(t *testing.T) {
	vars := map[string]any{"deployment": deployment}
	tests := []struct {
		name string
		expr string
		want any
	}{
		// cel-go extensions
		{name: "two-variable all", expr: `[10, 20].all(i, v, v > i)`, want: true},
		{name: "transformMap", expr: `{"a": 1}.transformMap(k, v, v * 2)`, want: map[string]any{"a": int64(2)}},
		{name: "lists.range", expr: `lists.range(3)`, want: []any{int64(0), int64(1), int64(2)}},
		{name: "list flatten", expr: `[[1], [2, 3]].flatten()`, want: []any{int64(1), int64(2), int64(3)}},
		{name: "string format", expr: `"%s-%d".format(["web", 3])`, want: "web-3"},
		{name: "string split join", expr: `"a,b".split(",").join("-")`, want: "a-b"},
		{name: "lowerAscii", expr: `deployment.metadata.name.upperAscii()`, want: "WEB"},
		{name: "cel.bind", expr: `cel.bind(x, deployment.spec.replicas, x * x)`, want: int64(9)},
		{name: "optional field absent", expr: `deployment.spec.?paused.orValue(false)`, want: false},
		{name: "optional field present", expr: `deployment.?spec.?replicas.orValue(1)`, want: int64(3)},
		{name: "optional index", expr: `[1, 2][?5].hasValue()`, want: false},
		{name: "base64 round trip", expr: `string(base64.decode(base64.encode(b"hi")))`, want: "hi"},
		{name: "math.greatest", expr: `math.greatest(1, 5, 3)`, want: int64(5)},
		{name: "sets.contains", expr: `sets.contains([1, 2, 3], [2, 3])`, want: true},
		// Kubernetes libraries
		{name: "quantity", expr: `quantity("1Gi").asInteger()`, want: int64(1 << 30)},
		{name: "quantity compare", expr: `quantity("500m").isLessThan(quantity("1"))`, want: true},
		{name: "isQuantity", expr: `isQuantity("abc")`, want: false},
		{name: "url", expr: `url("https://example.com:8080/p").getPort()`, want: "8080"},
		{name: "regex find", expr: `"x1y22".findAll("[0-9]+")`, want: []any{"1", "22"}},
		{name: "ip", expr: `ip("10.0.0.1").family()`, want: int64(4)},
		{name: "cidr", expr: `cidr("10.0.0.0/8").containsIP(ip("10.1.2.3"))`, want: true},
		{name: "semver", expr: `semver("1.2.3").isGreaterThan(semver("1.2.0"))`, want: true},
		{name: "format", expr: `format.dns1123Label().validate("Bad_Name").hasValue()`, want: true},
		{name: "k8s lists", expr: `[1, 2, 3].isSorted() && [1, 2].sum() == 3 && [1, 2].indexOf(2) == 1`, want: true},
		{name: "k8s includes", expr: `["a", "b"].includes("b")`, want: true},
		{name: "quantity written as string", expr: `quantity("1Gi")`, want: "1Gi"},
		{name: "timestamp written as RFC 3339", expr: `timestamp("2024-01-02T03:04:05Z")`, want: "2024-01-02T03:04:05Z"},
		{name: "duration written as string", expr: `duration("90s")`, want: "1m30s"},
		{name: "bytes written as base64", expr: `b"hi"`, want: "aGk="},
		{name: "cross-type numeric comparison", expr: `deployment.spec.replicas > 2.5`, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := eval(t, tc.expr, vars)
			require.NoError(t, err)
			got, err := ToNative(out)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestOmit(t *testing.T) {
	env := dynEnv(t, "obj")
	vars := map[string]any{"obj": map[string]any{"policy": ""}}

	out, err := evalIn(t, env, `obj.policy != "" ? obj.policy : omit()`, vars, testCostLimit)
	require.NoError(t, err)
	assert.True(t, IsOmit(out))
	_, err = ToNative(out)
	assert.True(t, errors.Is(err, ErrOmitted))

	out, err = evalIn(t, env, `obj.policy == "" ? "Always" : omit()`, vars, testCostLimit)
	require.NoError(t, err)
	assert.False(t, IsOmit(out))

	out, err = evalIn(t, env, `[1, omit(), 2]`, vars, testCostLimit)
	require.NoError(t, err)
	got, err := ToNative(out)
	require.NoError(t, err)
	assert.Equal(t, []any{int64(1), int64(2)}, got)

	out, err = evalIn(t, env, `{"a": omit(), "b": {"c": omit()}}`, vars, testCostLimit)
	require.NoError(t, err)
	got, err = ToNative(out)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"b": map[string]any{}}, got)

	_, err = evalIn(t, env, `omit() == 1`, vars, testCostLimit)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot be compared")

	// An empty optional at the top is omitted too.
	out, err = evalIn(t, env, `obj.?missing`, vars, testCostLimit)
	require.NoError(t, err)
	_, err = ToNative(out)
	assert.True(t, errors.Is(err, ErrOmitted))
	assert.False(t, IsOmit(out))
}

func TestToNativeErrors(t *testing.T) {
	tests := []struct {
		name string
		val  ref.Val
		err  string
	}{
		{name: "uint overflow", val: types.Uint(math.MaxUint64), err: "does not fit"},
		{name: "NaN", val: types.Double(math.NaN()), err: "cannot be represented in JSON"},
		{name: "non-string key", val: types.DefaultTypeAdapter.NativeToValue(map[int64]any{1: "a"}), err: "object keys must be strings"},
		{name: "nested error", val: types.NewDynamicList(types.DefaultTypeAdapter, []ref.Val{types.NewErr("boom")}), err: "index 0: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ToNative(tc.val)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

func TestRuntimeCostLimit(t *testing.T) {
	env := dynEnv(t, "s")
	tests := []struct {
		name  string
		expr  string
		vars  map[string]any
		limit uint64
	}{
		{name: "nested comprehension", expr: `lists.range(200).map(i, lists.range(200).map(j, i * j)).size()`, limit: 10_000},
		{name: "kro hash of a large string", expr: `size(hash.sha256(s))`, vars: map[string]any{"s": strings.Repeat("x", 100_000)}, limit: 1_000},
		{name: "kro json of a large string", expr: `size(json.marshal(s))`, vars: map[string]any{"s": strings.Repeat("x", 100_000)}, limit: 1_000},
		{name: "kro merge in a loop", expr: `lists.range(300).all(i, {"a": i}.merge({"b": i}).size() == 2)`, limit: 1_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := evalIn(t, env, tc.expr, tc.vars, tc.limit)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "cost limit exceeded")

			// The same expression succeeds with a generous limit.
			_, err = evalIn(t, env, tc.expr, tc.vars, math.MaxUint64)
			require.NoError(t, err)
		})
	}
}

func TestEstimatedCost(t *testing.T) {
	env := dynEnv(t, "s", "obj")
	estimate := func(expr string) uint64 {
		t.Helper()
		ast, iss := env.Compile(expr)
		require.NoError(t, iss.Err())
		c, err := env.EstimateCost(ast, CostEstimator(nil))
		require.NoError(t, err)
		return c.Max
	}
	// Fixed-size arguments give small, exact estimates.
	assert.Less(t, estimate(`random.seededString(8, "seed")`), uint64(10))
	assert.Less(t, estimate(`hash.fnv64a("abc")`), uint64(10))
	// Unknown sizes are bounded by the largest object the API server stores.
	assert.Less(t, estimate(`hash.sha256(s)`), uint64(1_000_000))
	assert.Less(t, estimate(`json.marshal(obj)`), uint64(1_000_000))
	assert.Less(t, estimate(`hash.sha256(json.marshal(obj))`), uint64(1_000_000))
	// Comprehensions over values of unknown size are bounded, not infinite.
	assert.Less(t, estimate(`obj.items.all(i, i > 0)`), uint64(math.MaxUint64))
	// A hash of a marshalled object costs more than a hash of a literal.
	assert.Greater(t, estimate(`hash.sha256(json.marshal(obj))`), estimate(`hash.sha256("abc")`))
	// Kubernetes library estimates are used (a regex over a large string is not free).
	assert.Greater(t, estimate(`s.matches("a+")`), uint64(1000))
	assert.Less(t, estimate(`s.matches("a+")`), uint64(math.MaxUint64))
}

func TestCallsFunction(t *testing.T) {
	env := dynEnv(t, "obj")
	tests := []struct {
		expr  string
		names []string
		want  bool
	}{
		{expr: `obj.a ? omit() : 1`, names: []string{OmitFunction}, want: true},
		{expr: `obj.a ? obj.b : 1`, names: []string{OmitFunction}, want: false},
		{expr: `[runtime.newCondition({type: 'X', status: 'True'})]`, names: []string{NewConditionFunction}, want: true},
		{expr: `runtime.condition(obj, 'Ready').status`, names: []string{OmitFunction, ConditionFunction}, want: true},
		{expr: `"omit"`, names: []string{OmitFunction}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			a, iss := env.Compile(tc.expr)
			require.NoError(t, iss.Err())
			assert.Equal(t, tc.want, CallsFunction(a, tc.names...))
		})
	}
	assert.False(t, CallsFunction(nil, OmitFunction))
}
