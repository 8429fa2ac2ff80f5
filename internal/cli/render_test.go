package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const waitingRGD = `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: waiting
spec:
  schema:
    apiVersion: v1alpha1
    kind: Waiting
    spec:
      name: string | required=true
      replicas: integer | default=2
      extra: boolean | default=false
  resources:
  - id: source
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-source
      data:
        replicas: ${string(schema.spec.replicas)}
  - id: copies
    forEach:
    - copy: ${[source.metadata.name, source.metadata.name + "-2"]}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${copy}
  - id: extra
    includeWhen:
    - ${schema.spec.extra}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}-extra
`

// TestRenderMarksWhatWaits renders an instance whose collection iterates
// over another resource, with the schema defaults applied and an excluded
// resource, and checks what is resolved and what is marked as waiting.
func TestRenderMarksWhatWaits(t *testing.T) {
	dir := t.TempDir()
	rgd := writeFile(t, dir, "rgd.yaml", waitingRGD)
	inst := writeFile(t, dir, "instance.yaml", "apiVersion: kro.run/v1alpha1\nkind: Waiting\nmetadata:\n  name: w\nspec:\n  name: demo\n")
	r := run(t, "render", "-f", rgd, "-i", inst)
	require.Equal(t, ExitOK, r.code, r.stderr)
	docs := strings.Split(r.stdout, "---\n")
	require.Len(t, docs, 3, r.stdout)

	assert.Contains(t, docs[0], "name: demo-source\n")
	assert.Contains(t, docs[0], "namespace: default\n", "the instance has no namespace: kubectl would use default")
	assert.Contains(t, docs[0], `replicas: "2"`, "the schema default is applied before rendering")

	assert.Contains(t, docs[1], "# copies (v1 ConfigMap, forEach), after source\n")
	assert.Contains(t, docs[1], "waits for source: spec.resources[1].forEach[0]")
	assert.Contains(t, docs[1], "# forEach not expanded until then\n")
	assert.NotContains(t, docs[1], "apiVersion:", "nothing is rendered for a collection that waits")

	assert.Contains(t, docs[2], "# skipped: includeWhen is false (${schema.spec.extra})\n")

	r = run(t, "render", "-f", rgd, "-i", writeFile(t, dir, "extra.yaml",
		"apiVersion: kro.run/v1alpha1\nkind: Waiting\nmetadata:\n  name: w\n  namespace: team\nspec:\n  name: demo\n  extra: true\n"))
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "name: demo-extra\n  namespace: team\n")
}

// TestRenderRefusesAnInstanceTheAPIWouldRefuse checks that the instance is
// validated against the generated schema and by the instance webhook's
// checks, with errors at the instance's lines.
func TestRenderRefusesAnInstanceTheAPIWouldRefuse(t *testing.T) {
	dir := t.TempDir()
	rgd := writeFile(t, dir, "rgd.yaml", waitingRGD)
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"missing required field", "  replicas: 3\n", `instance.yaml:5:1: spec.name: Required value`},
		{"wrong type", "  name: demo\n  replicas: many\n", "instance.yaml:7:13: spec.replicas: Invalid value: "},
		{"rendered name not a DNS name", "  name: Demo_App\n", "instance.yaml:6:9: spec.name: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := writeFile(t, dir, "instance.yaml", "apiVersion: kro.run/v1alpha1\nkind: Waiting\nmetadata:\n  name: w\nspec:\n"+tc.spec)
			r := run(t, "render", "-f", rgd, "-i", inst)
			require.Equal(t, ExitInvalid, r.code, r.stdout+r.stderr)
			assert.Contains(t, r.stderr, tc.want)
			assert.Empty(t, r.stdout)
		})
	}
}
