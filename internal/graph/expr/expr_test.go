package expr

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func lit(s string) Part { return Part{Literal: s} }
func ex(s string) Part  { return Part{Expr: s, IsExpr: true} }

func TestParse(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		standalone bool
		parts      []Part
	}{
		{name: "empty string", in: "", parts: nil},
		{name: "plain literal", in: "nginx:1.27", parts: []Part{lit("nginx:1.27")}},
		{name: "dollar without brace", in: "cost $5 {x}", parts: []Part{lit("cost $5 {x}")}},
		{name: "standalone", in: "${schema.spec.replicas}", standalone: true, parts: []Part{ex("schema.spec.replicas")}},
		{name: "standalone with inner spaces", in: "${ a + b }", standalone: true, parts: []Part{ex(" a + b ")}},
		{name: "prefix and suffix", in: "app-${schema.spec.name}-svc", parts: []Part{lit("app-"), ex("schema.spec.name"), lit("-svc")}},
		{name: "two adjacent expressions", in: "${a}${b}", parts: []Part{ex("a"), ex("b")}},
		{name: "expression then text", in: "${a}:8080", parts: []Part{ex("a"), lit(":8080")}},
		{name: "trailing newline is a template", in: "${a}\n", parts: []Part{ex("a"), lit("\n")}},
		{name: "escaped literal via string", in: `${"${VAR}"}`, standalone: true, parts: []Part{ex(`"${VAR}"`)}},
		{name: "single quoted braces", in: `${'}' + '{'}`, standalone: true, parts: []Part{ex(`'}' + '{'`)}},
		{name: "escaped quote in string", in: `${"a\"}" + b}`, standalone: true, parts: []Part{ex(`"a\"}" + b`)}},
		{name: "raw string backslash", in: `${r"\" + "}"}`, standalone: true, parts: []Part{ex(`r"\" + "}"`)}},
		{name: "raw bytes prefix", in: `${rb'\' == b'}'}`, standalone: true, parts: []Part{ex(`rb'\' == b'}'`)}},
		{name: "identifier ending in r is not raw", in: `${bar("\"}")}`, standalone: true, parts: []Part{ex(`bar("\"}")`)}},
		{name: "triple quoted with quotes and braces", in: `${"""a "}" ' ${x}"""}`, standalone: true, parts: []Part{ex(`"""a "}" ' ${x}"""`)}},
		{name: "triple single quoted multi-line", in: "${'''line}\n'''}", standalone: true, parts: []Part{ex("'''line}\n'''")}},
		{name: "map literal", in: `${{"a": 1, "b": {"c": 2}}.a}`, standalone: true, parts: []Part{ex(`{"a": 1, "b": {"c": 2}}.a`)}},
		{name: "map literal in template", in: `x-${string({"a": 1}.a)}-y`, parts: []Part{lit("x-"), ex(`string({"a": 1}.a)`), lit("-y")}},
		{name: "multi-line expression", in: "${runtime.newCondition({\n  type: 'Ready',\n  status: 'True'\n})}", standalone: true,
			parts: []Part{ex("runtime.newCondition({\n  type: 'Ready',\n  status: 'True'\n})")}},
		{name: "comment with brace", in: "${a // }\n + b}", standalone: true, parts: []Part{ex("a // }\n + b")}},
		{name: "division is not a comment", in: "${a / 2}", standalone: true, parts: []Part{ex("a / 2")}},
		{name: "dollar sign before expression", in: "$${a}", parts: []Part{lit("$"), ex("a")}},
		{name: "apostrophe in literal text", in: "it's ${a}'s", parts: []Part{lit("it's "), ex("a"), lit("'s")}},
		{name: "unicode literal", in: "héllo ${a} wörld", parts: []Part{lit("héllo "), ex("a"), lit(" wörld")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Parse(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.standalone, v.Standalone)
			assert.Equal(t, tc.parts, v.Parts)
			assert.Equal(t, tc.in, v.String(), "parts must reassemble the input")
			hasExpr := false
			for _, p := range tc.parts {
				hasExpr = hasExpr || p.IsExpr
			}
			assert.Equal(t, hasExpr, v.HasExpressions())
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		offset int
		msg    string
	}{
		{name: "unterminated", in: "abc ${schema.spec.name", offset: 4, msg: `missing closing "}"`},
		{name: "unterminated nested map", in: `${{"a": 1}`, offset: 0, msg: `missing closing "}"`},
		{name: "unterminated second", in: `${a}-${b`, offset: 5, msg: `missing closing "}"`},
		{name: "unterminated string", in: `${"abc}`, offset: 0, msg: "unterminated string literal"},
		{name: "unterminated triple string", in: `${'''abc}'}`, offset: 0, msg: "unterminated string literal"},
		{name: "newline in single quoted string", in: "${'a\n'}", offset: 0, msg: "unterminated string literal"},
		{name: "empty", in: "x ${}", offset: 2, msg: "empty expression"},
		{name: "blank", in: "${  }", offset: 0, msg: "empty expression"},
		{name: "comment to end", in: "${a // b}", offset: 0, msg: "comment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			require.Error(t, err)
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.offset, se.Offset)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestFind(t *testing.T) {
	obj := map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata": map[string]any{
			"name":   "${schema.spec.name}",
			"labels": map[string]any{"app": "web-${schema.spec.name}", "static": "x"},
		},
		"spec": map[string]any{
			"replicas": "${schema.spec.replicas}",
			"template": map[string]any{
				"spec": map[string]any{
					"containers": []any{
						map[string]any{"name": "c", "image": "${schema.spec.image}", "ports": []any{int64(80), "${schema.spec.port}"}},
					},
				},
			},
			"broken": "${oops",
			"number": int64(3),
			"flag":   true,
			"nil":    nil,
		},
	}
	found, errs := Find(obj, field.NewPath("spec", "resources").Index(0).Child("template"))
	require.Len(t, errs, 1)
	assert.Equal(t, "spec.resources[0].template.spec.broken", errs[0].Field)
	assert.Equal(t, field.ErrorTypeInvalid, errs[0].Type)
	assert.Contains(t, errs[0].Detail, `missing closing "}"`)

	var got []string
	for _, f := range found {
		got = append(got, f.Path.String()+"="+f.Value.String())
	}
	assert.Equal(t, []string{
		"spec.resources[0].template.metadata.labels.app=web-${schema.spec.name}",
		"spec.resources[0].template.metadata.name=${schema.spec.name}",
		"spec.resources[0].template.spec.replicas=${schema.spec.replicas}",
		"spec.resources[0].template.spec.template.spec.containers[0].image=${schema.spec.image}",
		"spec.resources[0].template.spec.template.spec.containers[0].ports[1]=${schema.spec.port}",
	}, got)
	assert.True(t, found[1].Value.Standalone)
	assert.False(t, found[0].Value.Standalone)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "plain", "${a}", "a${b}c", `${"${VAR}"}`, `${{"a": {"b": 1}}}`, "${'''x}'''}", `${r"\"}`,
		"${a // }\n}", "${", "${'", `${"""`, "$${}}", "${a}${b}${c}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		if v.String() != s {
			t.Fatalf("parts do not reassemble the input: %q -> %q", s, v.String())
		}
		if v.Standalone && (len(v.Parts) != 1 || !v.Parts[0].IsExpr) {
			t.Fatalf("standalone value with parts %#v", v.Parts)
		}
		for i, p := range v.Parts {
			if !p.IsExpr && p.Literal == "" {
				t.Fatalf("empty literal part in %q", s)
			}
			if i > 0 && !p.IsExpr && !v.Parts[i-1].IsExpr {
				t.Fatalf("adjacent literal parts in %q", s)
			}
		}
	})
}
