package cellib

import (
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiservercel "k8s.io/apiserver/pkg/cel"
	celcommon "k8s.io/apiserver/pkg/cel/common"
	"k8s.io/apiserver/pkg/cel/openapi"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

func stringMap() *spec.Schema {
	return &spec.Schema{SchemaProps: spec.SchemaProps{
		Type:                 spec.StringOrArray{"object"},
		AdditionalProperties: &spec.SchemaOrBool{Allows: true, Schema: spec.StringProperty()},
	}}
}

// webAppSchema is an instance schema as the compiler would build it.
func webAppSchema() *spec.Schema {
	conditions := spec.ArrayProperty(&spec.Schema{SchemaProps: spec.SchemaProps{
		Type: spec.StringOrArray{"object"},
		Properties: map[string]spec.Schema{
			"type": *spec.StringProperty(), "status": *spec.StringProperty(),
			"reason": *spec.StringProperty(), "message": *spec.StringProperty(),
		},
	}})
	return &spec.Schema{SchemaProps: spec.SchemaProps{
		Type: spec.StringOrArray{"object"},
		Properties: map[string]spec.Schema{
			"metadata": {SchemaProps: spec.SchemaProps{
				Type: spec.StringOrArray{"object"},
				Properties: map[string]spec.Schema{
					"name":   *spec.StringProperty(),
					"uid":    *spec.StringProperty(),
					"labels": *stringMap(),
				},
			}},
			"spec": {SchemaProps: spec.SchemaProps{
				Type: spec.StringOrArray{"object"},
				Properties: map[string]spec.Schema{
					"name":     *spec.StringProperty(),
					"replicas": *spec.Int64Property(),
					"ports":    *spec.ArrayProperty(spec.Int64Property()),
				},
			}},
			"status": {SchemaProps: spec.SchemaProps{
				Type:       spec.StringOrArray{"object"},
				Properties: map[string]spec.Schema{"conditions": *conditions},
			}},
		},
	}}
}

// typedEnv extends the base environment the way the compiler does: a
// DeclType per variable, registered through a DeclTypeProvider.
func typedEnv(t testing.TB) *cel.Env {
	t.Helper()
	base, err := BaseEnv()
	require.NoError(t, err)
	decl := celcommon.SchemaDeclType(&openapi.Schema{Schema: webAppSchema()}, false).MaybeAssignTypeName("__type_schema")
	provider := apiservercel.NewDeclTypeProvider(decl)
	provider.SetRecognizeKeywordAsFieldName(true)
	opts, err := provider.EnvOptions(base.CELTypeProvider())
	require.NoError(t, err)
	env, err := base.Extend(append(opts, cel.Variable("schema", decl.CelType()))...)
	require.NoError(t, err)
	return env
}

var webApp = map[string]any{
	"metadata": map[string]any{"name": "shop", "uid": "uid-1234", "labels": map[string]any{"team": "a"}},
	"spec":     map[string]any{"name": "shop", "replicas": int64(2), "ports": []any{int64(80), int64(443)}},
	"status": map[string]any{"conditions": []any{
		map[string]any{"type": "Ready", "status": "True", "reason": "Up", "message": ""},
	}},
}

func TestTypedEnvironment(t *testing.T) {
	env := typedEnv(t)
	tests := []struct {
		name     string
		expr     string
		wantType *cel.Type
		want     any
	}{
		{name: "name with random suffix", expr: `schema.spec.name + "-" + random.seededString(5, schema.metadata.uid)`, wantType: cel.StringType, want: "shop-h8pr9"},
		{name: "hash of a typed string", expr: `"%x".format([hash.fnv64a(schema.spec.name)])`, wantType: cel.StringType},
		{name: "merge typed labels", expr: `schema.metadata.labels.merge({"app": schema.spec.name})`, wantType: cel.MapType(cel.StringType, cel.StringType),
			want: map[string]any{"team": "a", "app": "shop"}},
		{name: "insert into typed list", expr: `lists.insertAtIndex(schema.spec.ports, 0, 8080)`, wantType: cel.ListType(cel.IntType),
			want: []any{int64(8080), int64(80), int64(443)}},
		{name: "condition of typed object", expr: `runtime.condition(schema, "Ready").status == "True"`, wantType: cel.BoolType, want: true},
		{name: "new condition from typed fields", expr: `runtime.newCondition({type: "Scaled", status: schema.spec.replicas > 1 ? "True" : "False"})`,
			wantType: cel.MapType(cel.StringType, cel.StringType), want: map[string]any{"type": "Scaled", "status": "True", "reason": "", "message": ""}},
		{name: "json of typed object", expr: `json.marshal(schema.spec)`, wantType: cel.StringType, want: `{"name":"shop","ports":[80,443],"replicas":2}`},
		{name: "omit keeps the branch type", expr: `schema.spec.replicas > 5 ? schema.spec.replicas : omit()`, wantType: cel.IntType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ast, iss := env.Compile(tc.expr)
			require.NoError(t, iss.Err())
			if tc.wantType != nil {
				assert.True(t, tc.wantType.IsExactType(ast.OutputType()) || ast.OutputType() == cel.DynType,
					"output type %s, want %s", ast.OutputType(), tc.wantType)
			}
			if tc.want == nil {
				return
			}
			prg, err := env.Program(ast, ProgramOptions(testCostLimit)...)
			require.NoError(t, err)
			out, _, err := prg.Eval(map[string]any{"schema": webApp})
			require.NoError(t, err)
			got, err := ToNative(out)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	// Typed variables make misuse a compile error.
	for _, bad := range []struct{ expr, err string }{
		{`schema.spec.nope`, "undefined field 'nope'"},
		{`hash.sha256(schema.spec.replicas)`, "found no matching overload for 'hash.sha256'"},
		{`lists.setAtIndex(schema.spec.ports, 0, "http")`, "found no matching overload for 'lists.setAtIndex'"},
		{`schema.metadata.labels.merge({"n": 1})`, "found no matching overload for 'merge'"},
		{`random.seededString(schema.spec.name, "x")`, "found no matching overload for 'random.seededString'"},
	} {
		_, iss := env.Compile(bad.expr)
		require.Error(t, iss.Err(), bad.expr)
		assert.Contains(t, iss.Err().Error(), bad.err, bad.expr)
	}
}

func TestOmitOutputType(t *testing.T) {
	// omit() is dyn, so it fits any field; the compiler checks the other branch.
	env := typedEnv(t)
	ast, iss := env.Compile(`omit()`)
	require.NoError(t, iss.Err())
	assert.Equal(t, cel.DynType, ast.OutputType())
}

func BenchmarkCompile(b *testing.B) {
	env := typedEnv(b)
	b.ResetTimer()
	for b.Loop() {
		_, iss := env.Compile(`schema.spec.name + "-" + random.seededString(5, schema.metadata.uid)`)
		if iss.Err() != nil {
			b.Fatal(iss.Err())
		}
	}
}

func BenchmarkCompileAndEval(b *testing.B) {
	env := typedEnv(b)
	vars := map[string]any{"schema": webApp}
	b.ResetTimer()
	for b.Loop() {
		ast, iss := env.Compile(`schema.spec.replicas > 1 ? schema.metadata.labels.merge({"app": schema.spec.name}) : omit()`)
		if iss.Err() != nil {
			b.Fatal(iss.Err())
		}
		prg, err := env.Program(ast, ProgramOptions(testCostLimit)...)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := prg.Eval(vars); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	env := typedEnv(b)
	ast, iss := env.Compile(`schema.spec.name + "-" + random.seededString(5, schema.metadata.uid)`)
	if iss.Err() != nil {
		b.Fatal(iss.Err())
	}
	prg, err := env.Program(ast, ProgramOptions(testCostLimit)...)
	if err != nil {
		b.Fatal(err)
	}
	vars := map[string]any{"schema": webApp}
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := prg.Eval(vars); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSchemaBackedValues evaluates on the Kubernetes schema-aware value
// wrappers (celcommon.UnstructuredToVal), which the compiler may use for
// activations instead of plain maps.
func TestSchemaBackedValues(t *testing.T) {
	env := typedEnv(t)
	val := celcommon.UnstructuredToVal(webApp, &openapi.Schema{Schema: webAppSchema()})
	tests := []struct {
		expr string
		want any
	}{
		{expr: `schema.metadata.labels.merge({"app": "x"})`, want: map[string]any{"team": "a", "app": "x"}},
		{expr: `schema.metadata.labels.deepMerge({"team": "b"})`, want: map[string]any{"team": "b"}},
		{expr: `lists.removeAtIndex(schema.spec.ports, 1)`, want: []any{int64(80)}},
		{expr: `runtime.condition(schema, "Ready").reason`, want: "Up"},
		{expr: `json.marshal(schema.status)`, want: `{"conditions":[{"message":"","reason":"Up","status":"True","type":"Ready"}]}`},
		{expr: `schema.spec`, want: map[string]any{"name": "shop", "replicas": int64(2), "ports": []any{int64(80), int64(443)}}},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			out, err := evalIn(t, env, tc.expr, map[string]any{"schema": val}, testCostLimit)
			require.NoError(t, err)
			got, err := ToNative(out)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
