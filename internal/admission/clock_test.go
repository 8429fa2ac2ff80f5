package admission

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/cellib"
)

// clockRGD has a field whose value is valid or not depending on the time.
const clockRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: widgets}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Widget
    spec:
      name: string
      opensAt: string
  resources:
  - id: gate
    includeWhen:
    - ${time.now() >= timestamp(schema.spec.opensAt)}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: '${time.now() >= timestamp(schema.spec.opensAt) ? schema.spec.name : "Not_A_Name"}'
  - id: always
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: '${schema.spec.name + (time.now() >= timestamp(schema.spec.opensAt) ? "-open" : "_closed")}'
      data:
        checked: ${schema.spec.name}
`

// TestCheckInstanceDoesNotDecideOnTheClock: what depends on time.now() is
// not decided at admission. The same instance is accepted whatever the time
// (its names are invalid only before opensAt), and what the spec alone
// determines is still checked.
func TestCheckInstanceDoesNotDecideOnTheClock(t *testing.T) {
	c := compiled(t, clockRGD, graph.DefaultOptions())
	opens := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{opens.Add(-time.Hour), opens.Add(time.Hour)} {
		restore := cellib.SetClock(func() time.Time { return at })
		errs, err := CheckInstance(context.Background(), c, instance(map[string]any{"name": "shop", "opensAt": opens.Format(time.RFC3339)}))
		restore()
		require.NoError(t, err)
		require.Empty(t, errs, "at %s", at)
	}
	errs, err := CheckInstance(context.Background(), c, instance(map[string]any{"name": "Shop", "opensAt": opens.Format(time.RFC3339)}))
	require.NoError(t, err)
	require.Empty(t, errs, "the names depend on the clock, so they are checked by the controller")
}
