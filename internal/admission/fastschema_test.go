package admission

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"k8s.io/utils/ptr"
)

// validatorAccepts is what checkRendered concludes from kube-openapi's
// validator: no error other than a missing required field.
func validatorAccepts(s *spec.Schema, v any) bool {
	res := validate.NewSchemaValidator(s, nil, "", strfmt.Default).Validate(v)
	if res == nil {
		return true
	}
	for _, e := range res.Errors {
		var ve *openapierrors.Validation
		if errors.As(e, &ve) && ve.Code() == openapierrors.RequiredFailCode {
			continue
		}
		return false
	}
	return true
}

// plainlyValid may say "ask the validator" for a valid value, never "valid"
// for one the validator refuses; and it answers for the common values.
func TestPlainlyValidNeverAcceptsWhatTheValidatorRefuses(t *testing.T) {
	res := liveResolver(t)
	kindSchema := func(gvk schema.GroupVersionKind) *spec.Schema {
		k, err := res.Resolve(gvk)
		require.NoError(t, err)
		return withoutIntOrStringFormat(k.Schema)
	}
	deploy := kindSchema(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	cm := kindSchema(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"})
	svc := kindSchema(schema.GroupVersionKind{Version: "v1", Kind: "Service"})
	obj := func(kind, apiVersion string, rest map[string]any) map[string]any {
		m := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": "x", "namespace": "ns", "labels": map[string]any{"a": "b"}}}
		for k, v := range rest {
			m[k] = v
		}
		return m
	}
	str := &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}
	synthetic := func(f func(*spec.Schema)) *spec.Schema {
		s := &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{}}}
		f(s)
		return s
	}
	prop := func(typ string, f func(*spec.SchemaProps)) *spec.Schema {
		return synthetic(func(s *spec.Schema) {
			p := spec.SchemaProps{Type: []string{typ}}
			f(&p)
			s.Properties["f"] = spec.Schema{SchemaProps: p}
		})
	}
	cases := []struct {
		s         *spec.Schema
		v         any
		wantFast  bool // the fast path must answer for it
		wantValid bool
	}{
		{deploy, obj("Deployment", "apps/v1", map[string]any{"spec": map[string]any{"replicas": int64(2)}}), true, true},
		{deploy, obj("Deployment", "apps/v1", map[string]any{"spec": map[string]any{"replicas": int64(1 << 40)}}), false, false},
		{deploy, obj("Deployment", "apps/v1", map[string]any{"spec": map[string]any{"replicas": 2.5}}), false, false},
		{deploy, obj("Deployment", "apps/v1", map[string]any{"spec": map[string]any{"replicas": "2"}}), false, false},
		{deploy, obj("Deployment", "apps/v1", map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "c", "image": "nginx", "args": []any{"a", int64(1)}}}}}}}), false, false},
		{deploy, obj("Deployment", "apps/v1", map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "c", "image": "nginx", "args": []any{"a", "b"}}}}}}}), true, true},
		{cm, obj("ConfigMap", "v1", map[string]any{"data": map[string]any{"k": "v"}}), true, true},
		{cm, obj("ConfigMap", "v1", map[string]any{"data": map[string]any{"k": int64(1)}}), false, false},
		{cm, obj("ConfigMap", "v1", map[string]any{"metadata": map[string]any{"name": int64(3)}}), false, false},
		{cm, obj("ConfigMap", "v1", map[string]any{"metadata": map[string]any{"labels": map[string]any{"a": true}}}), false, false},
		{cm, obj("ConfigMap", "v1", map[string]any{"data": nil}), false, false},
		{svc, obj("Service", "v1", map[string]any{"spec": map[string]any{"type": "ClusterIP", "ports": []any{map[string]any{"port": int64(80)}}}}), true, true},
		{svc, obj("Service", "v1", map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": "80"}}}}), false, false},
		{svc, obj("Service", "v1", map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": int64(80), "targetPort": "http"}}}}), false, true},
		{prop("string", func(p *spec.SchemaProps) { p.Enum = []any{"a", "b"} }), map[string]any{"f": "a"}, true, true},
		{prop("string", func(p *spec.SchemaProps) { p.Enum = []any{"a", "b"} }), map[string]any{"f": "c"}, false, false},
		{prop("string", func(p *spec.SchemaProps) { p.MaxLength = ptr.To[int64](3) }), map[string]any{"f": "abcd"}, false, false},
		{prop("string", func(p *spec.SchemaProps) { p.MaxLength = ptr.To[int64](3) }), map[string]any{"f": "äöü"}, true, true},
		{prop("string", func(p *spec.SchemaProps) { p.MinLength = ptr.To[int64](2) }), map[string]any{"f": "a"}, false, false},
		{prop("string", func(p *spec.SchemaProps) { p.Pattern = "^a$" }), map[string]any{"f": "b"}, false, false},
		{prop("string", func(p *spec.SchemaProps) { p.Format = "date-time" }), map[string]any{"f": "b"}, false, false},
		{prop("integer", func(p *spec.SchemaProps) { p.Maximum = ptr.To(10.0) }), map[string]any{"f": int64(10)}, true, true},
		{prop("integer", func(p *spec.SchemaProps) { p.Maximum, p.ExclusiveMaximum = ptr.To(10.0), true }), map[string]any{"f": int64(10)}, false, false},
		{prop("integer", func(p *spec.SchemaProps) { p.Minimum = ptr.To(1.0) }), map[string]any{"f": int64(0)}, false, false},
		{prop("integer", func(p *spec.SchemaProps) { p.MultipleOf = ptr.To(2.0) }), map[string]any{"f": int64(3)}, false, false},
		{prop("number", func(p *spec.SchemaProps) { p.Minimum = ptr.To(0.5) }), map[string]any{"f": 0.25}, false, false},
		{prop("number", func(*spec.SchemaProps) {}), map[string]any{"f": int64(3)}, true, true},
		{prop("boolean", func(*spec.SchemaProps) {}), map[string]any{"f": "true"}, false, false},
		{prop("array", func(p *spec.SchemaProps) { p.MaxItems = ptr.To[int64](1) }), map[string]any{"f": []any{"a", "b"}}, false, false},
		{prop("array", func(p *spec.SchemaProps) { p.Items = &spec.SchemaOrArray{Schema: str} }), map[string]any{"f": []any{"a", int64(1)}}, false, false},
		{prop("array", func(p *spec.SchemaProps) { p.UniqueItems = true }), map[string]any{"f": []any{"a", "a"}}, false, false},
		{prop("object", func(p *spec.SchemaProps) { p.AdditionalProperties = &spec.SchemaOrBool{Allows: false} }), map[string]any{"f": map[string]any{"x": "y"}}, false, false},
		{prop("object", func(p *spec.SchemaProps) { p.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: str} }), map[string]any{"f": map[string]any{"x": int64(1)}}, false, false},
		{prop("object", func(p *spec.SchemaProps) { p.MaxProperties = ptr.To[int64](0) }), map[string]any{"f": map[string]any{"x": "y"}}, false, false},
		{prop("string", func(p *spec.SchemaProps) { p.Nullable = true }), map[string]any{"f": nil}, false, true},
		{prop("string", func(*spec.SchemaProps) {}), map[string]any{"f": nil}, false, false},
	}
	ref := prop("string", func(*spec.SchemaProps) {})
	ref.Properties["f"] = spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef("#/definitions/x")}}
	assert.False(t, plainlyValid(ref, map[string]any{"f": "a"}), "a $ref is the validator's to resolve")
	for i, tc := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			fast := plainlyValid(tc.s, tc.v)
			valid := validatorAccepts(tc.s, tc.v)
			require.Equal(t, tc.wantValid, valid, "the validator's verdict, as the case expects")
			if fast {
				assert.True(t, valid, "plainlyValid accepted what the validator refuses")
			}
			assert.Equal(t, tc.wantFast, fast, "whether the fast path answers")
		})
	}
}

// The validator reports a number beyond its field's format as a plain
// error without a field path; formatOverflows finds it at its path, in
// lists too, and nothing else.
func TestFormatOverflowsFindsNumbersBeyondTheirFieldsFormat(t *testing.T) {
	k, err := liveResolver(t).Resolve(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	require.NoError(t, err)
	deploy := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "spec": map[string]any{
		"replicas": int64(1) << 40,
		"template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "web", "ports": []any{
				map[string]any{"containerPort": int64(8080)},
				map[string]any{"containerPort": int64(99999999999)},
			}},
		}}},
		"revisionHistoryLimit": int64(math.MinInt32),
	}}
	s := withoutIntOrStringFormat(k.Schema)
	assert.Equal(t, []formatOverflow{
		{".spec.replicas", int64(1) << 40, "int32"},
		{".spec.template.spec.containers[0].ports[1].containerPort", int64(99999999999), "int32"},
	}, formatOverflows(s, deploy))

	numbers := &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}, Properties: map[string]spec.Schema{
		"share":  {SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"number"}, Format: "float"}},
		"ratio":  {SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"number"}, Format: "double"}},
		"count":  {SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"integer"}, Format: "uint32"}},
		"shares": {SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"array"}, Items: &spec.SchemaOrArray{Schema: spec.Float32Property()}}},
	}}}
	got := formatOverflows(numbers, map[string]any{
		"share":  1e39,
		"ratio":  1e300,
		"count":  int64(-1),
		"shares": []any{0.5, -1e39, math.MaxFloat32},
	})
	assert.Equal(t, []formatOverflow{
		{".count", int64(-1), "uint32"},
		{".share", 1e39, "float"},
		{".shares[1]", -1e39, "float"},
	}, got)
	require.NotEmpty(t, got)
	assert.Equal(t, "1e+39 does not fit the field's 32-bit floating-point number (format float)", got[1].problem())

	// Each one is an error of the validator itself, which names no path.
	res := validate.NewSchemaValidator(numbers, nil, "", strfmt.Default).Validate(map[string]any{"share": 1e39})
	require.Len(t, res.Errors, 1)
	var ve *openapierrors.Validation
	assert.False(t, errors.As(res.Errors[0], &ve), "the validator gives this error a path after all: %v", res.Errors[0])
}
