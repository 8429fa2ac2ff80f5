package controller_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/controller/instance"
	"github.com/korvid/korvid/internal/graph/cellib"
)

const clockRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: clocked
spec:
  schema:
    apiVersion: v1alpha1
    kind: Clocked
    spec:
      value: string | default="a"
    status:
      opened: ${gate.data.opened}
  resources:
  - id: gate
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-gate
      data:
        opened: ${string(time.now() >= schema.metadata.creationTimestamp + duration("1h"))}
  - id: late
    includeWhen:
    - ${time.now() >= schema.metadata.creationTimestamp + duration("1h")}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-late
      data:
        value: ${schema.spec.value}
`

// TestClockGatesAreEvaluatedAgain: nothing but the passing of time changes
// what a graph calling time.now() renders and includes; the controller
// comes back to its instances by itself.
func TestClockGatesAreEvaluatedAgain(t *testing.T) {
	c := start(t)
	ns := namespace(t, c, "clock")
	createRGD(t, c, clockRGD)
	waitActive(t, c, "clocked")
	gvk := kindGVK("Clocked")
	createInstance(t, c, "Clocked", ns, "one", map[string]any{})
	waitState(t, c, gvk, ns, "one", v1alpha1.InstanceStateActive)
	require.Equal(t, "false", mustGet(t, c, configMapGVK, ns, "one-gate").Object["data"].(map[string]any)["opened"])
	_, err := get(t, c, configMapGVK, ns, "one-late")
	require.Error(t, err, "not included before the hour is up")

	// Two hours later, with no event at all.
	t.Cleanup(instance.SetClockRecheck(500 * time.Millisecond))
	later := time.Now().Add(2 * time.Hour)
	t.Cleanup(cellib.SetClock(func() time.Time { return later }))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		gate, err := get(t, c, configMapGVK, ns, "one-gate")
		if assert.NoError(ct, err) {
			assert.Equal(ct, "true", gate.Object["data"].(map[string]any)["opened"])
		}
		_, err = get(t, c, configMapGVK, ns, "one-late")
		assert.NoError(ct, err, "included once the hour is up")
		inst, err := get(t, c, gvk, ns, "one")
		if assert.NoError(ct, err) {
			assert.Equal(ct, "true", inst.Object["status"].(map[string]any)["opened"])
		}
	}, timeout, tick)
	waitState(t, c, gvk, ns, "one", v1alpha1.InstanceStateActive)
}
