package simpleschema

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

var (
	specPath  = field.NewPath("spec", "schema", "spec")
	typesPath = field.NewPath("spec", "schema", "types")
)

func decodeYAML(t testing.TB, s string) map[string]any {
	t.Helper()
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var m map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(s), &m))
	return m
}

func convert(t testing.TB, spec, types string) (*extv1.JSONSchemaProps, field.ErrorList) {
	t.Helper()
	return ToOpenAPI(decodeYAML(t, spec), decodeYAML(t, types), specPath, typesPath)
}

// requireServable checks that the API server would accept the schema as
// the spec of a CRD: structural, valid defaults, compiling CEL rules.
func requireServable(t *testing.T, s *extv1.JSONSchemaProps) {
	t.Helper()
	internal := &apiextensions.JSONSchemaProps{}
	require.NoError(t, extv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(s, internal, nil))
	ss, err := schema.NewStructural(internal)
	require.NoError(t, err)
	require.Empty(t, schema.ValidateStructural(nil, ss))

	defaultErrs, err := defaulting.ValidateDefaults(context.Background(), field.NewPath("spec"), ss, false, true)
	require.NoError(t, err)
	require.Empty(t, defaultErrs)
}

func TestToOpenAPI(t *testing.T) {
	tests := []struct {
		name  string
		spec  string
		types string
		want  string // JSON of the expected schema
	}{
		{
			name: "scalar types",
			spec: `
name: string
replicas: integer
enabled: boolean
ratio: float
extra: object`,
			want: `{"type":"object","properties":{
				"name":{"type":"string"},
				"replicas":{"type":"integer"},
				"enabled":{"type":"boolean"},
				"ratio":{"type":"number"},
				"extra":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}`,
		},
		{
			name: "arrays and maps nest",
			spec: `
tags: "[]string"
matrix: "[][]integer"
labels: "map[string]string"
groups: "map[string][]string"`,
			want: `{"type":"object","properties":{
				"tags":{"type":"array","items":{"type":"string"}},
				"matrix":{"type":"array","items":{"type":"array","items":{"type":"integer"}}},
				"labels":{"type":"object","additionalProperties":{"type":"string"}},
				"groups":{"type":"object","additionalProperties":{"type":"array","items":{"type":"string"}}}}}`,
		},
		{
			name: "required and description",
			spec: `
name: string | required=true description="The name of the app"
optional: string | required=false`,
			want: `{"type":"object","required":["name"],"properties":{
				"name":{"type":"string","description":"The name of the app"},
				"optional":{"type":"string"}}}`,
		},
		{
			name: "defaults per type give the parent default {}",
			spec: `
name: string | default="my app"
replicas: integer | default=3
enabled: boolean | default=true
ratio: float | default=0.5
tags: "[]string | default=[\"a\",\"b\"]"
labels: map[string]string | default={"app":"web"}
extra: object | default={"any":{"thing":1}}`,
			want: `{"type":"object","default":{},"properties":{
				"name":{"type":"string","default":"my app"},
				"replicas":{"type":"integer","default":3},
				"enabled":{"type":"boolean","default":true},
				"ratio":{"type":"number","default":0.5},
				"tags":{"type":"array","items":{"type":"string"},"default":["a","b"]},
				"labels":{"type":"object","additionalProperties":{"type":"string"},"default":{"app":"web"}},
				"extra":{"type":"object","x-kubernetes-preserve-unknown-fields":true,"default":{"any":{"thing":1}}}}}`,
		},
		{
			name: "nested default {} applies recursively but not next to a required field",
			spec: `
outer:
  inner:
    port: integer | default=80
withRequired:
  name: string | required=true
  port: integer | default=80`,
			want: `{"type":"object","default":{},"properties":{
				"outer":{"type":"object","default":{},"properties":{
					"inner":{"type":"object","default":{},"properties":{"port":{"type":"integer","default":80}}}}},
				"withRequired":{"type":"object","required":["name"],"properties":{
					"name":{"type":"string"},"port":{"type":"integer","default":80}}}}}`,
		},
		{
			name: "no default {} without a defaulted child",
			spec: `
outer:
  name: string`,
			want: `{"type":"object","properties":{"outer":{"type":"object","properties":{"name":{"type":"string"}}}}}`,
		},
		{
			name: "numeric and string constraints",
			spec: `
port: integer | minimum=1 maximum=65535
ratio: float | minimum=0.1 maximum=0.9
name: string | pattern="^[a-z]+$" minLength=1 maxLength=63
size: string | enum="small, medium,large" default=medium
code: integer | enum="1,2,3"`,
			want: `{"type":"object","default":{},"properties":{
				"port":{"type":"integer","minimum":1,"maximum":65535},
				"ratio":{"type":"number","minimum":0.1,"maximum":0.9},
				"name":{"type":"string","pattern":"^[a-z]+$","minLength":1,"maxLength":63},
				"size":{"type":"string","enum":["small","medium","large"],"default":"medium"},
				"code":{"type":"integer","enum":[1,2,3]}}}`,
		},
		{
			name: "array constraints",
			spec: `
tags: "[]string | uniqueItems=true minItems=1 maxItems=5"
atomic: "[]string | listType=atomic"
set: "[]integer | listType=set"
ports: "[]Port | listType=map listMapKey=name listMapKey=protocol"`,
			types: `
Port:
  name: string | required=true
  protocol: string | default=TCP
  port: integer`,
			want: `{"type":"object","properties":{
				"tags":{"type":"array","items":{"type":"string"},"x-kubernetes-list-type":"set","minItems":1,"maxItems":5},
				"atomic":{"type":"array","items":{"type":"string"},"x-kubernetes-list-type":"atomic"},
				"set":{"type":"array","items":{"type":"integer"},"x-kubernetes-list-type":"set"},
				"ports":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name","protocol"],
					"items":{"type":"object","required":["name"],"properties":{
						"name":{"type":"string"},"protocol":{"type":"string","default":"TCP"},"port":{"type":"integer"}}}}}}`,
		},
		{
			name: "immutable and validation rules",
			spec: `
name: string | immutable=true
count: integer | validation="self % 2 == 0"
both: string | immutable=true validation="self.startsWith(\"a\")"
never: string | immutable=false
config:
  a: integer
  b: integer`,
			want: `{"type":"object","properties":{
				"name":{"type":"string","x-kubernetes-validations":[{"rule":"self == oldSelf","message":"field is immutable"}]},
				"count":{"type":"integer","x-kubernetes-validations":[{"rule":"self % 2 == 0","message":"validation failed"}]},
				"both":{"type":"string","x-kubernetes-validations":[{"rule":"self == oldSelf","message":"field is immutable"},{"rule":"self.startsWith(\"a\")","message":"validation failed"}]},
				"never":{"type":"string"},
				"config":{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}}}}}`,
		},
		{
			name: "custom types inline, reference each other and take extra markers",
			spec: `
port: Port | required=true
adminPort: Port | default=9090 description="admin"
server: Server
servers: "[]Server"
byName: map[string]Server`,
			types: `
Port: integer | minimum=1 maximum=65535
Server:
  host: string | required=true
  port: Port`,
			want: `{"type":"object","required":["port"],"properties":{
				"port":{"type":"integer","minimum":1,"maximum":65535},
				"adminPort":{"type":"integer","minimum":1,"maximum":65535,"default":9090,"description":"admin"},
				"server":{"type":"object","required":["host"],"properties":{"host":{"type":"string"},"port":{"type":"integer","minimum":1,"maximum":65535}}},
				"servers":{"type":"array","items":{"type":"object","required":["host"],"properties":{"host":{"type":"string"},"port":{"type":"integer","minimum":1,"maximum":65535}}}},
				"byName":{"type":"object","additionalProperties":{"type":"object","required":["host"],"properties":{"host":{"type":"string"},"port":{"type":"integer","minimum":1,"maximum":65535}}}}}}`,
		},
		{
			name:  "a custom type that says required makes its fields required",
			spec:  `id: ID`,
			types: `ID: string | required=true minLength=3`,
			want:  `{"type":"object","required":["id"],"properties":{"id":{"type":"string","minLength":3}}}`,
		},
		{
			name: "object type defaults come along with the type",
			spec: `resources: Resources`,
			types: `
Resources:
  cpu: string | default="100m"`,
			want: `{"type":"object","default":{},"properties":{"resources":{"type":"object","default":{},"properties":{"cpu":{"type":"string","default":"100m"}}}}}`,
		},
		{
			name: "object default given as JSON",
			spec: `
config: Config | default={"name":"x","size":2}`,
			types: `
Config:
  name: string | required=true
  size: integer`,
			want: `{"type":"object","default":{},"properties":{"config":{"type":"object","required":["name"],"default":{"name":"x","size":2},
				"properties":{"name":{"type":"string"},"size":{"type":"integer"}}}}}`,
		},
		{
			name: "quoted values keep pipes, equals and escaped quotes",
			spec: `
msg: string | default="a | b = \"c\"" description="say \"hi\""`,
			want: `{"type":"object","default":{},"properties":{"msg":{"type":"string","default":"a | b = \"c\"","description":"say \"hi\""}}}`,
		},
		{
			name: "empty spec",
			want: `{"type":"object"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := convert(t, tt.spec, tt.types)
			require.Empty(t, errs)
			gotJSON, err := json.Marshal(got)
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(gotJSON))
			requireServable(t, got)
		})
	}
}

func TestToOpenAPIErrors(t *testing.T) {
	tests := []struct {
		name  string
		spec  string
		types string
		// every error expected, in order, as "path: substring of the message"
		// or just a substring of the message
		want []string
	}{
		{name: "unknown type", spec: `a: strin`, want: []string{`spec.schema.spec.a: unknown type "strin"`}},
		{name: "unknown element type", spec: `a: "[]Nope"`, want: []string{`spec.schema.spec.a: unknown type "Nope"`}},
		{name: "empty array element", spec: `a: "[]"`, want: []string{`spec.schema.spec.a: array type [] needs an element type`}},
		{name: "map key not string", spec: `a: "map[int]string"`, want: []string{`spec.schema.spec.a: map type "map[int]string" must be written map[string]<type>`}},
		{name: "map without value type", spec: `a: "map[string]"`, want: []string{`spec.schema.spec.a: map type needs a value type`}},
		{name: "unknown marker", spec: `a: string | requird=true`, want: []string{`spec.schema.spec.a: unknown marker "requird"`}},
		{name: "marker without value", spec: `a: string | required`, want: []string{`marker "required" has no value`}},
		{name: "repeated marker", spec: `a: string | default=a default=b`, want: []string{`marker "default" is given more than once`}},
		{name: "unterminated quote", spec: `a: string | default="abc`, want: []string{`unterminated quoted value`}},
		{name: "unbalanced bracket", spec: `a: "[]string | default=[1,2"`, want: []string{`unclosed "["`}},
		{name: "not a definition", spec: `a: 3`, want: []string{`spec.schema.spec.a: Invalid value: 3: expected a field definition`}},
		{name: "list is not a definition", spec: `a: [x]`, want: []string{`found a list`}},
		{name: "required not bool", spec: `a: string | required=yes`, want: []string{`marker "required" needs true or false, found "yes"`}},
		{name: "immutable not bool", spec: `a: string | immutable=1`, want: []string{`marker "immutable" needs true or false, found "1"`}},
		{name: "uniqueItems not bool", spec: `a: "[]string | uniqueItems=maybe"`, want: []string{`marker "uniqueItems" needs true or false`}},
		{name: "minimum not a number", spec: `replicas: integer | minimum=abc`, want: []string{`spec.schema.spec.replicas: Invalid value: "abc": marker "minimum" needs a number, found "abc"`}},
		{name: "maximum NaN", spec: `a: float | maximum=NaN`, want: []string{`marker "maximum" needs a number, found "NaN"`}},
		{name: "minimum on string", spec: `a: string | minimum=1`, want: []string{`marker "minimum" does not apply to string fields (only to integer and float)`}},
		{name: "pattern on integer", spec: `a: integer | pattern="^a$"`, want: []string{`marker "pattern" does not apply to integer fields (only to string)`}},
		{name: "minLength on array", spec: `a: "[]string | minLength=1"`, want: []string{`marker "minLength" does not apply to array fields`}},
		{name: "minItems on string", spec: `a: string | minItems=1`, want: []string{`marker "minItems" does not apply to string fields (only to array)`}},
		{name: "enum on boolean", spec: `a: boolean | enum="true,false"`, want: []string{`marker "enum" does not apply to boolean fields`}},
		{name: "enum on float", spec: `a: float | enum="1.5"`, want: []string{`marker "enum" does not apply to float fields`}},
		{name: "listType on map", spec: `a: map[string]string | listType=set`, want: []string{`marker "listType" does not apply to map fields`}},
		{name: "enum integer values", spec: `a: integer | enum="1,two"`, want: []string{`needs integer values on an integer field, found "two"`}},
		{name: "enum empty item", spec: `a: string | enum="a,,b"`, want: []string{`has an empty value`}},
		{name: "bad pattern", spec: `a: string | pattern="[a-"`, want: []string{`marker "pattern" needs a valid regular expression`}},
		{name: "negative minLength", spec: `a: string | minLength=-1`, want: []string{`marker "minLength" needs a non-negative integer, found "-1"`}},
		{name: "maxItems not integer", spec: `a: "[]string | maxItems=1.5"`, want: []string{`marker "maxItems" needs a non-negative integer, found "1.5"`}},
		{name: "bad listType", spec: `a: "[]string | listType=bag"`, want: []string{`marker "listType" needs one of atomic, set or map, found "bag"`}},
		{name: "minimum above maximum", spec: `a: integer | minimum=10 maximum=5`, want: []string{`marker "minimum" (10) is greater than marker "maximum" (5)`}},
		{name: "minLength above maxLength", spec: `a: string | minLength=10 maxLength=5`, want: []string{`marker "minLength" (10) is greater than marker "maxLength" (5)`}},
		{name: "minItems above maxItems", spec: `a: "[]string | minItems=3 maxItems=2"`, want: []string{`marker "minItems" (3) is greater than marker "maxItems" (2)`}},
		{name: "default not an integer", spec: `a: integer | default=abc`, want: []string{`marker "default" needs an integer, found "abc"`}},
		{name: "default not a float", spec: `a: float | default=x`, want: []string{`marker "default" needs a number, found "x"`}},
		{name: "default not a bool", spec: `a: boolean | default=yes`, want: []string{`marker "default" needs true or false, found "yes"`}},
		{name: "default not JSON", spec: `a: "[]string | default=[a]"`, want: []string{`marker "default" needs a JSON array`}},
		{name: "default array of wrong items", spec: `a: "[]integer | default=[1,\"x\"]"`, want: []string{`"x" at [1] is not an integer`}},
		{name: "default object for array", spec: `a: "[]integer | default={}"`, want: []string{`{} is not an array`}},
		{name: "default below minimum", spec: `a: integer | minimum=5 default=1`, want: []string{`1 is less than minimum 5`}},
		{name: "default above maximum", spec: `a: float | maximum=5 default=7.5`, want: []string{`7.5 is greater than maximum 5`}},
		{name: "default not in enum", spec: `a: string | enum="a,b" default=c`, want: []string{`"c" is not one of the enum values "a", "b"`}},
		{name: "default breaks pattern", spec: `a: string | pattern="^[a-z]+$" default=ABC`, want: []string{`"ABC" does not match pattern`}},
		{name: "default too short", spec: `a: string | minLength=3 default=ab`, want: []string{`"ab" is shorter than minLength 3`}},
		{name: "default too long", spec: `a: string | maxLength=1 default=ab`, want: []string{`"ab" is longer than maxLength 1`}},
		{name: "default too few items", spec: `a: "[]string | minItems=2 default=[\"a\"]"`, want: []string{`fewer than minItems 2`}},
		{name: "default repeats in a set", spec: `a: "[]string | uniqueItems=true default=[\"a\",\"a\"]"`, want: []string{`repeats "a", but the list is a set`}},
		{name: "default has unknown field", spec: `a: Cfg | default={"nmae":"x"}`, types: `Cfg: {name: string}`, want: []string{`unknown field "nmae"`}},
		{name: "default misses required field", spec: `a: Cfg | default={}`, types: `Cfg: {name: string | required=true}`, want: []string{`required field "name" is missing`}},
		{name: "default map value wrong type", spec: `a: map[string]integer | default={"x":"y"}`, want: []string{`"y" at .x is not an integer`}},
		{name: "default null", spec: `a: object | default=null`, want: []string{`null is not allowed`}},
		{name: "enum value breaks pattern", spec: `a: string | pattern="^a" enum="ab,b"`, want: []string{`marker "enum" value "b" does not fit the field`}},
		{name: "enum value out of range", spec: `a: integer | maximum=2 enum="1,3"`, want: []string{`marker "enum" value 3 does not fit the field`}},
		{name: "uniqueItems with listType map", spec: `a: "[]P | uniqueItems=true listType=map listMapKey=name"`, types: `P: {name: string | required=true}`, want: []string{`marker "uniqueItems" needs listType=set`}},
		{name: "set of objects", spec: `a: "[]P | listType=set"`, types: `P: {name: string}`, want: []string{`listType=set needs items of a scalar type`}},
		{name: "listMapKey without listType", spec: `a: "[]P | listMapKey=name"`, types: `P: {name: string | required=true}`, want: []string{`marker "listMapKey" needs listType=map, found no listType`}},
		{name: "listType map without key", spec: `a: "[]P | listType=map"`, types: `P: {name: string | required=true}`, want: []string{`listType=map needs at least one marker "listMapKey"`}},
		{name: "listType map of strings", spec: `a: "[]string | listType=map listMapKey=name"`, want: []string{`listType=map needs items that are objects with properties, found string`}},
		{name: "listMapKey unknown property", spec: `a: "[]P | listType=map listMapKey=x"`, types: `P: {name: string | required=true}`, want: []string{`names "x", which is not a property of the list items (properties: name)`}},
		{name: "listMapKey optional", spec: `a: "[]P | listType=map listMapKey=name"`, types: `P: {name: string}`, want: []string{`key "name" must be a required property`}},
		{name: "listMapKey not scalar", spec: `a: "[]P | listType=map listMapKey=name"`, types: `P: {name: "[]string | required=true"}`, want: []string{`key "name" must be a scalar`}},
		{name: "listMapKey twice", spec: `a: "[]P | listType=map listMapKey=name listMapKey=name"`, types: `P: {name: string | required=true}`, want: []string{`names key "name" more than once`}},
		{name: "validation does not compile", spec: `a: integer | validation="self.startsWith('a')"`, want: []string{`spec.schema.spec.a: Invalid value: "self.startsWith('a')": marker "validation" rule does not compile against a integer field`}},
		{name: "validation unknown field", spec: `a: {b: integer | validation="self.c > 1"}`, want: []string{`spec.schema.spec.a.b:`}},
		{name: "validation not bool", spec: `a: integer | validation="self + 1"`, want: []string{`cel expression must evaluate to a bool`}},
		{name: "validation syntax", spec: `a: integer | validation="self >"`, want: []string{`Syntax error`}},
		{name: "default fails the validation rule", spec: `a: string | default=ab validation="self.size() > 3"`, want: []string{`spec.schema.spec.a: failed rule: self.size() > 3`}},
		{name: "nested default fails the validation rule", spec: `a: {b: "[]integer | default=[1] validation=\"self.all(x, x > 5)\""}`, want: []string{`spec.schema.spec.a.b: failed rule`}},
		{name: "validation empty", spec: `a: integer | validation=""`, want: []string{`marker "validation" needs a CEL expression`}},
		{name: "type errors are reported at the type", spec: `a: Port`, types: `Port: integer | minimum=x`, want: []string{`spec.schema.types.Port: Invalid value: "x": marker "minimum" needs a number`}},
		{name: "markers on a type reference are checked against the type", spec: `a: Port | pattern=x`, types: `Port: integer`, want: []string{`spec.schema.spec.a: Invalid value: "x": marker "pattern" does not apply to integer fields`}},
		{name: "field markers contradict the type", spec: `a: Port | maximum=5`, types: `Port: integer | minimum=10`, want: []string{`spec.schema.spec.a: Invalid value: "Port": marker "minimum" (10) is greater than marker "maximum" (5)`}},
		{name: "type default does not fit field markers", spec: `a: Port | minimum=100`, types: `Port: integer | default=80`, want: []string{`spec.schema.spec.a`}},
		{name: "self cycle", spec: `a: Node`, types: `Node: {children: "[]Node"}`, want: []string{`spec.schema.types.Node: Invalid value: "Node": custom types reference each other in a cycle: Node -> Node`}},
		{
			name:  "longer cycle reported once",
			spec:  `a: A`,
			types: "A: {b: B}\nB: {c: \"map[string]C\"}\nC: \"[]A\"",
			want:  []string{`spec.schema.types.A: Invalid value: "A": custom types reference each other in a cycle: A -> B -> C -> A`},
		},
		{name: "shadowing a built-in", types: `string: integer`, want: []string{`spec.schema.types.string: Invalid value: "string": custom type "string" has the name of a built-in type`}},
		{name: "type definition not a string", types: `T: 5`, want: []string{`spec.schema.types.T: Invalid value: 5: expected a type definition`}},
		{name: "empty field name", spec: `"": string`, want: []string{`field name must not be empty`}},
		{name: "type with spaces", spec: `a: "map[string] string"`, want: []string{`must not contain spaces`}},
		{
			name: "all errors are collected",
			spec: `
a: integer | minimum=abc
b: strng
c:
  d: string | pattern="("`,
			want: []string{
				`spec.schema.spec.a: Invalid value: "abc": marker "minimum"`,
				`spec.schema.spec.b: Invalid value: "strng": unknown type "strng"`,
				`spec.schema.spec.c.d: Invalid value: "(": marker "pattern"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := convert(t, tt.spec, tt.types)
			require.NotNil(t, got)
			require.Len(t, errs, len(tt.want), "errors: %v", errs)
			for i, want := range tt.want {
				if path, detail, ok := strings.Cut(want, ": "); ok && strings.HasPrefix(path, "spec.") {
					assert.Equal(t, path, errs[i].Field)
					want = detail
				}
				assert.Contains(t, errs[i].Error(), want)
			}
		})
	}
}

func TestParseField(t *testing.T) {
	tests := []struct {
		in      string
		want    *Field
		wantErr string
	}{
		{in: "string", want: &Field{Type: "string"}},
		{in: "  integer  ", want: &Field{Type: "integer"}},
		{in: "string | required=true", want: &Field{Type: "string", Markers: []Marker{{"required", "true"}}}},
		{
			in:   `string | required=true default="a b" enum="x,y"`,
			want: &Field{Type: "string", Markers: []Marker{{"required", "true"}, {"default", "a b"}, {"enum", "x,y"}}},
		},
		{in: `string | default="say \"hi\""`, want: &Field{Type: "string", Markers: []Marker{{"default", `say "hi"`}}}},
		{in: `string | pattern="^\d+$"`, want: &Field{Type: "string", Markers: []Marker{{"pattern", `^\d+$`}}}},
		{in: `object | default={"a": {"b": [1, "}"]}}`, want: &Field{Type: "object", Markers: []Marker{{"default", `{"a": {"b": [1, "}"]}}`}}}},
		{in: `[]integer | default=[1, 2]  minItems=1`, want: &Field{Type: "[]integer", Markers: []Marker{{"default", "[1, 2]"}, {"minItems", "1"}}}},
		{in: `string | default=""`, want: &Field{Type: "string", Markers: []Marker{{"default", ""}}}},
		{in: `string | validation="self != 'a|b'"`, want: &Field{Type: "string", Markers: []Marker{{"validation", "self != 'a|b'"}}}},
		{in: `[]P | listType=map listMapKey=a listMapKey=b`, want: &Field{Type: "[]P", Markers: []Marker{{"listType", "map"}, {"listMapKey", "a"}, {"listMapKey", "b"}}}},
		{in: "", wantErr: "missing type"},
		{in: "| required=true", wantErr: "missing type"},
		{in: "string |", wantErr: "expected markers after |"},
		{in: "string | foo=bar", wantErr: `unknown marker "foo"`},
		{in: "string | =x", wantErr: "marker without a name"},
		{in: "string | required", wantErr: `marker "required" has no value`},
		{in: `string | default="a"b`, wantErr: `expected a space after the value`},
		{in: `string | default="a`, wantErr: "unterminated"},
		{in: `object | default={"a":1]`, wantErr: "unbalanced"},
		{in: `object | default={"a":1`, wantErr: "unclosed"},
		{in: `string | required=true required=false`, wantErr: `marker "required" is given more than once`},
		{in: `str ing`, wantErr: "must not contain spaces"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseField(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestToOpenAPIIsDeterministic(t *testing.T) {
	spec := `
zeta: string | required=true
alpha: integer | required=true
mid:
  why: string | required=true
  b: string | required=true
list: "[]Item"
bad1: nope
bad2: integer | minimum=x
bad3: string | pattern="("`
	types := `
Item:
  k: string | required=true
  a: string | required=true
Other: integer | maximum=x`
	first, firstErrs := convert(t, spec, types)
	firstJSON, err := json.Marshal(first)
	require.NoError(t, err)
	for range 20 {
		got, errs := convert(t, spec, types)
		gotJSON, err := json.Marshal(got)
		require.NoError(t, err)
		require.Equal(t, string(firstJSON), string(gotJSON))
		require.Equal(t, firstErrs.ToAggregate().Error(), errs.ToAggregate().Error())
	}
	assert.Equal(t, []string{"alpha", "zeta"}, first.Required)
	assert.Equal(t, []string{"b", "why"}, first.Properties["mid"].Required)
}

func TestToOpenAPIBoundsTypeExpansion(t *testing.T) {
	// Each type uses the next one four times: 4^10 copies if inlined blindly.
	var types strings.Builder
	for i := range 10 {
		types.WriteString("T" + string(rune('a'+i)) + ": {")
		next := "string"
		if i < 9 {
			next = "T" + string(rune('a'+i+1))
		}
		types.WriteString("a: " + next + ", b: " + next + ", c: " + next + ", d: " + next + "}\n")
	}
	_, errs := convert(t, "root: Ta", types.String())
	require.NotEmpty(t, errs)
	assert.Contains(t, errs.ToAggregate().Error(), "schema is too large")
}

// thirtyFields is a schema of the size a typical RGD has.
const thirtyFields = `
name: string | required=true description="Application name" pattern="^[a-z][a-z0-9-]*$" maxLength=63
namespace: string | default=default
image: string | required=true
tag: string | default=latest
replicas: integer | default=1 minimum=0 maximum=100
port: Port | default=8080
adminPort: Port
enabled: boolean | default=true
ratio: float | minimum=0 maximum=1 default=0.5
env: map[string]string
labels: map[string]string | default={}
annotations: map[string]string
args: "[]string"
command: "[]string | maxItems=10"
tier: string | enum="frontend,backend,batch" default=frontend
size: string | enum="small,medium,large" immutable=true
ports: "[]ServicePort | listType=map listMapKey=name"
volumes: "[]Volume"
extra: object
ingress:
  enabled: boolean | default=false
  host: string | pattern="^[a-z0-9.-]+$"
  path: string | default="/"
  tls: boolean | default=false
resources:
  cpu: string | default="100m"
  memory: string | default="128Mi"
  limits: map[string]string
probes:
  liveness: string | default="/healthz"
  readiness: string | default="/ready"
  period: integer | default=10 minimum=1 validation="self <= 300"
`

const thirtyFieldTypes = `
Port: integer | minimum=1 maximum=65535
ServicePort:
  name: string | required=true
  port: Port | required=true
  protocol: string | enum="TCP,UDP" default=TCP
Volume:
  name: string | required=true
  size: string | default="1Gi"
`

func TestThirtyFieldSchema(t *testing.T) {
	s, errs := convert(t, thirtyFields, thirtyFieldTypes)
	require.Empty(t, errs)
	requireServable(t, s)
	assert.Equal(t, []string{"image", "name"}, s.Required)
	assert.JSONEq(t, `{"cpu":{"type":"string","default":"100m"},"memory":{"type":"string","default":"128Mi"},"limits":{"type":"object","additionalProperties":{"type":"string"}}}`,
		mustJSON(t, s.Properties["resources"].Properties))
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func BenchmarkToOpenAPI(b *testing.B) {
	spec := decodeYAML(b, thirtyFields)
	types := decodeYAML(b, thirtyFieldTypes)
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := ToOpenAPI(spec, types, specPath, typesPath); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
