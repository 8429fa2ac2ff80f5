package schemadiff

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/internal/graph/simpleschema"
)

// schemaOf converts a SimpleSchema spec (and types) written as YAML, the way
// the compiler builds instance schemas.
func schemaOf(t *testing.T, spec, types string) *extv1.JSONSchemaProps {
	t.Helper()
	var specMap, typesMap map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(spec), &specMap))
	if types != "" {
		require.NoError(t, yaml.Unmarshal([]byte(types), &typesMap))
	}
	s, errs := simpleschema.ToOpenAPI(specMap, typesMap, field.NewPath("spec"), field.NewPath("types"))
	require.Empty(t, errs)
	return s
}

func TestBreaking(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		types    string // custom types used by both versions
		want     []string
	}{
		// Breaking changes.
		{name: "property removed", old: "a: string\nb: string", new: "a: string", want: []string{"spec.b: property removed"}},
		{name: "nested property removed", old: "o: {a: string, b: integer}", new: "o: {a: string}", want: []string{"spec.o.b: property removed"}},
		{name: "type changed", old: "replicas: integer", new: "replicas: string", want: []string{"spec.replicas: type changed from integer to string"}},
		{name: "float to integer", old: "r: float", new: "r: integer", want: []string{"spec.r: type changed from float to integer"}},
		{name: "scalar to array", old: "r: string", new: `r: "[]string"`, want: []string{"spec.r: type changed from string to array"}},
		{name: "array item type changed", old: `r: "[]string"`, new: `r: "[]integer"`, want: []string{"spec.r[*]: type changed from string to integer"}},
		{name: "map value type changed", old: "m: map[string]string", new: "m: map[string]integer", want: []string{"spec.m[*]: type changed from string to integer"}},
		{name: "required added", old: "a: string", new: "a: string | required=true", want: []string{"spec.a: field is now required"}},
		{name: "new required field", old: "a: string", new: "a: string\nb: string | required=true", want: []string{"spec.b: field is now required"}},
		{name: "default removed from required field", old: "a: string | required=true default=x", new: "a: string | required=true", want: []string{"spec.a: default removed from a required field"}},
		{name: "enum value removed", old: `s: string | enum="a,b,c"`, new: `s: string | enum="a,c"`, want: []string{`spec.s: enum value "b" removed`}},
		{name: "enum values removed", old: `s: integer | enum="1,2,3"`, new: `s: integer | enum="2"`, want: []string{`spec.s: enum values 1, 3 removed`}},
		{name: "enum added", old: "s: string", new: `s: string | enum="a,b"`, want: []string{`spec.s: enum added: only "a", "b" allowed`}},
		{name: "pattern added", old: "s: string", new: `s: string | pattern="^a"`, want: []string{`spec.s: pattern "^a" added`}},
		{name: "pattern changed", old: `s: string | pattern="^a"`, new: `s: string | pattern="^b"`, want: []string{`spec.s: pattern changed from "^a" to "^b"`}},
		{name: "minimum added", old: "num: integer", new: "num: integer | minimum=1", want: []string{"spec.num: minimum 1 added"}},
		{name: "minimum raised", old: "num: float | minimum=0.5", new: "num: float | minimum=1.5", want: []string{"spec.num: minimum raised from 0.5 to 1.5"}},
		{name: "maximum added", old: "num: integer", new: "num: integer | maximum=10", want: []string{"spec.num: maximum 10 added"}},
		{name: "maximum lowered", old: "num: integer | maximum=10", new: "num: integer | maximum=5", want: []string{"spec.num: maximum lowered from 10 to 5"}},
		{name: "minLength added", old: "s: string", new: "s: string | minLength=2", want: []string{"spec.s: minLength 2 added"}},
		{name: "minLength raised", old: "s: string | minLength=1", new: "s: string | minLength=2", want: []string{"spec.s: minLength raised from 1 to 2"}},
		{name: "maxLength added", old: "s: string", new: "s: string | maxLength=5", want: []string{"spec.s: maxLength 5 added"}},
		{name: "maxLength lowered", old: "s: string | maxLength=9", new: "s: string | maxLength=5", want: []string{"spec.s: maxLength lowered from 9 to 5"}},
		{name: "minItems added", old: `l: "[]string"`, new: `l: "[]string | minItems=1"`, want: []string{"spec.l: minItems 1 added"}},
		{name: "minItems raised", old: `l: "[]string | minItems=1"`, new: `l: "[]string | minItems=3"`, want: []string{"spec.l: minItems raised from 1 to 3"}},
		{name: "maxItems added", old: `l: "[]string"`, new: `l: "[]string | maxItems=4"`, want: []string{"spec.l: maxItems 4 added"}},
		{name: "maxItems lowered", old: `l: "[]string | maxItems=4"`, new: `l: "[]string | maxItems=2"`, want: []string{"spec.l: maxItems lowered from 4 to 2"}},
		{name: "list becomes a set", old: `l: "[]string"`, new: `l: "[]string | uniqueItems=true"`, want: []string{"spec.l: list type changed from atomic to set"}},
		{name: "preserved object gets a fixed shape", old: "o: object", new: "o: {a: string}", want: []string{"spec.o: unknown fields are no longer kept"}},
		{name: "map becomes an object", old: "o: map[string]string", new: "o: {a: string}", want: []string{"spec.o: arbitrary keys are no longer accepted"}},
		{
			name:  "changes inside list items and custom types",
			types: "Port: integer | minimum=1",
			old:   `ports: "[]Port"` + "\nsvc: {port: Port}",
			new:   `ports: "[]string"` + "\nsvc: {port: Port | maximum=100}",
			want:  []string{"spec.ports[*]: type changed from integer to string", "spec.svc.port: maximum 100 added"},
		},
		{
			name: "several changes are sorted by path",
			old:  "z: string\na: integer\nm: {x: string}",
			new:  "a: string\nm: {x: string | required=true}",
			want: []string{"spec.a: type changed from integer to string", "spec.m.x: field is now required", "spec.z: property removed"},
		},
		// Not breaking.
		{name: "optional field added", old: "a: string", new: "a: string\nb: integer | default=3"},
		{name: "description changed", old: `a: string | description="old"`, new: `a: string | description="new"`},
		{name: "required dropped", old: "a: string | required=true", new: "a: string"},
		{name: "default added", old: "a: string", new: "a: string | default=x"},
		{name: "default removed from optional field", old: "a: string | default=x", new: "a: string"},
		{name: "enum widened", old: `s: string | enum="a"`, new: `s: string | enum="a,b"`},
		{name: "enum removed", old: `s: string | enum="a"`, new: `s: string`},
		{name: "pattern removed", old: `s: string | pattern="^a"`, new: `s: string`},
		{name: "bounds relaxed", old: "num: integer | minimum=5 maximum=10", new: "num: integer | minimum=1 maximum=20"},
		{name: "bounds removed", old: `s: string | minLength=2 maxLength=3`, new: "s: string"},
		{name: "items bounds relaxed", old: `l: "[]string | minItems=2 maxItems=3"`, new: `l: "[]string | minItems=1"`},
		{name: "set becomes atomic", old: `l: "[]string | listType=set"`, new: `l: "[]string"`},
		{name: "object gets preserve-unknown-fields", old: "o: {a: string}", new: "o: object"},
		{name: "object becomes a map with compatible values", old: "o: {a: string}", new: "o: map[string]string"},
		{name: "identical", old: "a: string | required=true\nb: \"[]integer | maxItems=3\"", new: "a: string | required=true\nb: \"[]integer | maxItems=3\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Breaking(schemaOf(t, tt.old, tt.types), schemaOf(t, tt.new, tt.types))
			var strs []string
			for _, c := range got {
				strs = append(strs, c.String())
			}
			assert.Equal(t, tt.want, strs)
		})
	}
}

func TestBreakingAtRoot(t *testing.T) {
	old := &extv1.JSONSchemaProps{Type: "object", Properties: map[string]extv1.JSONSchemaProps{
		"spec": {Type: "object", Properties: map[string]extv1.JSONSchemaProps{"a": {Type: "string"}}},
	}}
	changes := BreakingAt("", old, &extv1.JSONSchemaProps{Type: "object", Properties: map[string]extv1.JSONSchemaProps{
		"spec": {Type: "object"},
	}})
	assert.Equal(t, []Change{{Path: "spec.a", Description: "property removed"}}, changes)

	assert.Empty(t, Breaking(nil, schemaOf(t, "a: string", "")), "a schema where there was none breaks nothing")
	assert.Equal(t, []Change{{Path: "spec", Description: "schema removed"}}, Breaking(schemaOf(t, "a: string", ""), nil))
}
