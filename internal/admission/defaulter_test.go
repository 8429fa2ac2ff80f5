package admission

import (
	"encoding/json"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLabelPatch(t *testing.T) {
	want := map[string]string{"kro.run/owned": "true", "kro.run/resource-graph-definition-name": "w", "a~b/c": "x"}
	tests := map[string]map[string]any{
		"no metadata":    {"spec": map[string]any{}},
		"no labels":      {"metadata": map[string]any{"name": "w"}},
		"other labels":   {"metadata": map[string]any{"name": "w", "labels": map[string]any{"app": "shop"}}},
		"a wrong value":  {"metadata": map[string]any{"name": "w", "labels": map[string]any{"kro.run/owned": "false", "app": "shop"}}},
		"all are there":  {"metadata": map[string]any{"name": "w", "labels": map[string]any{"kro.run/owned": "true", "kro.run/resource-graph-definition-name": "w", "a~b/c": "x"}}},
		"labels is null": {"metadata": map[string]any{"name": "w", "labels": nil}},
	}
	for name, obj := range tests {
		t.Run(name, func(t *testing.T) {
			raw, err := json.Marshal(obj)
			require.NoError(t, err)
			ops := labelPatch(obj, want)
			if name == "all are there" {
				assert.Empty(t, ops, "no patch when the labels are there")
				return
			}
			require.NotEmpty(t, ops)
			pb, err := json.Marshal(ops)
			require.NoError(t, err)
			p, err := jsonpatchapply.DecodePatch(pb)
			require.NoError(t, err)
			out, err := p.Apply(raw)
			require.NoError(t, err, "patch %s", pb)
			var got map[string]any
			require.NoError(t, json.Unmarshal(out, &got))
			labels := got["metadata"].(map[string]any)["labels"].(map[string]any)
			for k, v := range want {
				assert.Equal(t, v, labels[k], k)
			}
			if name == "other labels" || name == "a wrong value" {
				assert.Equal(t, "shop", labels["app"], "other labels are kept")
			}
		})
	}
}
