package admission

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/korvid/korvid/internal/graph"
)

// literalsRGD renders a Deployment whose literals are valid and a Database
// whose literal user name breaks the CRD's maxLength.
var literalsRGD = `
metadata: {name: literals, uid: 3f6c1c44-0c7e-4f0e-9a55-000000000002, generation: 1}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Literal
    spec:
      name: string | required=true
      replicas: integer | default=1
      engine: string | default="postgres"
  resources:
  - id: deploy
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${schema.spec.name}
      spec:
        replicas: ${schema.spec.replicas}
        selector: {matchLabels: {app: x}}
        template:
          metadata: {labels: {app: x}}
          spec:
            containers: [{name: c, image: nginx}]
  - id: db
    template:
      apiVersion: example.com/v1
      kind: Database
      metadata:
        name: ${schema.spec.name + "-db"}
      spec:
        engine: ${schema.spec.engine}
        users: [{name: "` + strings.Repeat("u", 64) + `"}]
`

func TestNarrowedSchemasKeepWhatInstancesChange(t *testing.T) {
	c := compiled(t, literalsRGD, graph.DefaultOptions())
	checks := checkValidators(c)
	require.Len(t, checks, 2)
	deploy := c.Graph.Node("deploy")
	require.NotNil(t, deploy)
	narrowed := checks[0].Schema
	spec := narrowed.Properties["spec"]
	assert.Contains(t, spec.Properties, "replicas", "a field rendered from the instance is validated")
	assert.NotContains(t, spec.Properties, "selector", "a valid literal is not validated per instance")
	assert.NotContains(t, spec.Properties, "template", "a valid literal is not validated per instance")
	assert.Contains(t, narrowed.Properties["metadata"].Properties, "namespace", "the namespace the renderer adds is validated")
	assert.Contains(t, deploy.Schema.Properties["spec"].Properties, "selector", "the graph's own schema is left whole")

	db := checks[1].Schema.Properties["spec"]
	assert.Contains(t, db.Properties, "engine")
	assert.Contains(t, db.Properties, "users", "a literal that breaks the schema stays checked")
}

func TestCheckInstanceWithNarrowedSchemas(t *testing.T) {
	c := compiled(t, literalsRGD, graph.DefaultOptions())
	tests := []struct {
		name      string
		spec      map[string]any
		fragments []string
	}{
		{name: "the literal error is reported for every instance", spec: map[string]any{"name": "shop", "replicas": int64(1), "engine": "postgres"},
			fragments: []string{`resource "db" (Database)`, "spec.users[0].name"}},
		{name: "rendered values are still checked", spec: map[string]any{"name": "shop", "replicas": int64(1), "engine": "oracle"},
			fragments: []string{`resource "db" (Database)`, "spec.engine", "postgres"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := instance(tt.spec)
			obj["kind"] = "Literal"
			errs := checkInstance(t, c, obj)
			require.NotEmpty(t, errs)
			found := false
			for _, e := range errs {
				ok := true
				for _, f := range tt.fragments {
					ok = ok && strings.Contains(e.Error(), f)
				}
				found = found || ok
			}
			assert.True(t, found, "want an error containing %q, got %v", tt.fragments, errs)
		})
	}
}
