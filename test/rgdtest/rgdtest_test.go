package rgdtest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/test/rgdtest"
)

func TestBuildIsTheRGDWrittenByHand(t *testing.T) {
	want := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, yaml.UnmarshalStrict([]byte(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: inners
spec:
  schema:
    apiVersion: v1alpha1
    kind: Inner
    scope: Cluster
    spec:
      value: string
    status:
      stored: ${config.data.value}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-inner
      data:
        value: ${schema.spec.value}
`), want))
	got := rgdtest.New("inners", "Inner").Scope(v1alpha1.ResourceScopeCluster).
		Spec("value", "string").Status("stored", "${config.data.value}").
		ConfigMap("config", "${schema.metadata.name}-inner", map[string]any{"value": "${schema.spec.value}"}).Build()
	wantJSON, err := yaml.Marshal(want.Spec)
	require.NoError(t, err)
	gotJSON, err := yaml.Marshal(got.Spec)
	require.NoError(t, err)
	assert.YAMLEq(t, string(wantJSON), string(gotJSON))
	assert.Equal(t, want.Name, got.Name)
}
