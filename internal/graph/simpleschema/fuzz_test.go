package simpleschema

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

var fieldSeeds = []string{
	"string",
	"string | required=true default=\"a b\" enum=\"x,y\"",
	"integer | minimum=1 maximum=65535 default=80",
	"float | minimum=0.5 default=1",
	"boolean | default=true immutable=true",
	"object | default={\"a\":[1,{\"b\":\"}\"}]}",
	"[]string | uniqueItems=true minItems=1 maxItems=3 default=[\"a\"]",
	"[][]integer | listType=atomic",
	"map[string]string | default={\"k\":\"v\"}",
	"string | pattern=\"^[a-z]+$\" minLength=1 maxLength=5 validation=\"self != 'x'\"",
	"string | description=\"say \\\"hi\\\"\"",
	"[]P | listType=map listMapKey=name",
	"Port | default=8080",
	"string | default=\"unterminated",
	"| required=true",
}

func FuzzParseField(f *testing.F) {
	for _, s := range fieldSeeds {
		f.Add(s)
	}
	types := map[string]any{
		"P":    map[string]any{"name": "string | required=true", "port": "Port"},
		"Port": "integer | minimum=1 maximum=65535",
	}
	f.Fuzz(func(t *testing.T, s string) {
		parsed, err := ParseField(s)
		if err == nil {
			require.NotEmpty(t, parsed.Type)
			require.False(t, strings.ContainsAny(parsed.Type, " \t|"), "type %q", parsed.Type)
			for _, m := range parsed.Markers {
				_, known := knownMarkers[m.Name]
				require.True(t, known, "marker %q", m.Name)
			}
		}
		out, errs := ToOpenAPI(map[string]any{"f": s}, types, specPath, typesPath)
		require.NotNil(t, out)
		if err != nil {
			require.NotEmpty(t, errs, "a definition that does not parse must be rejected")
		}
		if len(errs) == 0 {
			requireServable(t, out)
		}
	})
}

func FuzzToOpenAPI(f *testing.F) {
	f.Add(`{"spec":{"name":"string | required=true","port":"Port | default=80"},"types":{"Port":"integer | minimum=1"}}`)
	f.Add(`{"spec":{"o":{"i":{"x":"integer | default=1"}}}}`)
	f.Add(`{"spec":{"a":"A"},"types":{"A":{"b":"[]B"},"B":{"a":"map[string]A"}}}`)
	f.Add(`{"spec":{"l":"[]Item | listType=map listMapKey=k"},"types":{"Item":{"k":"string | required=true"}}}`)
	f.Add(`{"spec":{"x":3,"y":null,"z":["a"]},"types":{"T":true}}`)
	f.Add("spec:\n  a: string | enum=\"a,b\" default=a\n  b: \"[]float | default=[1.5]\"\n")
	f.Fuzz(func(t *testing.T, doc string) {
		var in struct {
			Spec  map[string]any `json:"spec"`
			Types map[string]any `json:"types"`
		}
		if yaml.Unmarshal([]byte(doc), &in) != nil {
			return
		}
		out, errs := ToOpenAPI(in.Spec, in.Types, specPath, typesPath)
		require.NotNil(t, out)
		for _, e := range errs {
			require.True(t, strings.HasPrefix(e.Field, "spec.schema.spec") || strings.HasPrefix(e.Field, "spec.schema.types"), "error outside the schema: %v", e)
		}
		again, errsAgain := ToOpenAPI(in.Spec, in.Types, specPath, typesPath)
		first, err := json.Marshal(out)
		require.NoError(t, err)
		second, err := json.Marshal(again)
		require.NoError(t, err)
		require.Equal(t, string(first), string(second), "output must be deterministic")
		require.Equal(t, errs.ToAggregate(), errsAgain.ToAggregate())
		if len(errs) == 0 {
			requireServable(t, out)
		}
	})
}
