package controller_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/test/rgdtest"
)

// signals is an RGD whose status.conditions are the author's: Ready from
// the built-in ResourcesReady, and ModeOn from the ConfigMap.
func signals() *v1alpha1.ResourceGraphDefinition {
	return rgdtest.New("signals", "Signal").Spec("mode", `string | default="on"`).Spec("note", `string | default="x"`).
		Status("conditions", []any{
			"${runtime.newCondition({type: 'Ready', status: runtime.condition(schema, 'ResourcesReady').status, reason: 'FromBuiltIn', message: runtime.condition(schema, 'ResourcesReady').reason})}",
			"${runtime.newCondition({type: 'ModeOn', status: config.data.mode == 'on' ? 'True' : 'False', reason: 'Mode', message: 'mode is ' + config.data.mode})}",
		}).
		ConfigMap("config", "${schema.metadata.name}", map[string]any{"mode": "${schema.spec.mode}", "note": "${schema.spec.note}"}).Build()
}

func conditionTypes(u *unstructured.Unstructured) []string {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	out := make([]string, 0, len(list))
	for _, c := range list {
		if m, ok := c.(map[string]any); ok {
			out = append(out, m["type"].(string))
		}
	}
	return out
}

func TestCustomConditionsReplaceBuiltIns(t *testing.T) {
	c := start(t)
	createRGDObject(t, c, signals())
	waitActive(t, c, "signals")
	ns := namespace(t, c, "conditions")
	gvk := kindGVK("Signal")
	createInstance(t, c, "Signal", ns, "beacon", map[string]any{})

	var inst *unstructured.Unstructured
	require.Eventually(t, func() bool {
		inst = waitState(t, c, gvk, ns, "beacon", v1alpha1.InstanceStateActive)
		return condition(inst, "ModeOn") != nil
	}, timeout, tick)

	t.Run("only the author's conditions are on the wire", func(t *testing.T) {
		require.Equal(t, []string{"Ready", "ModeOn"}, conditionTypes(inst))
	})
	t.Run("runtime.condition(schema, type) reads the built-in conditions", func(t *testing.T) {
		ready := condition(inst, "Ready")
		require.Equal(t, "True", ready["status"])
		require.Equal(t, "FromBuiltIn", ready["reason"])
		require.Equal(t, "AllResourcesReady", ready["message"])
		require.Equal(t, inst.GetGeneration(), ready["observedGeneration"])
		require.NotEmpty(t, ready["lastTransitionTime"])
	})

	mode := condition(inst, "ModeOn")
	require.Equal(t, "True", mode["status"])
	require.Equal(t, "mode is on", mode["message"])
	since := mode["lastTransitionTime"]

	t.Run("an unchanged condition keeps its transition time", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond) // transition times have second resolution
		patchSpec(t, c, "Signal", ns, "beacon", map[string]any{"note": "y"})
		require.EventuallyWithT(t, func(collect *assert.CollectT) {
			inst = mustGet(collect, c, gvk, ns, "beacon")
			m := condition(inst, "ModeOn")
			assert.True(collect, m != nil && m["observedGeneration"] == inst.GetGeneration() && inst.GetGeneration() > 1)
		}, timeout, tick)
		require.Equal(t, since, condition(inst, "ModeOn")["lastTransitionTime"])
	})

	t.Run("a changed condition gets a new transition time", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond)
		patchSpec(t, c, "Signal", ns, "beacon", map[string]any{"mode": "off"})
		var m map[string]any
		require.EventuallyWithT(t, func(collect *assert.CollectT) {
			m = condition(mustGet(collect, c, gvk, ns, "beacon"), "ModeOn")
			assert.True(collect, m != nil && m["status"] == "False")
		}, timeout, tick)
		require.Equal(t, "mode is off", m["message"])
		require.NotEqual(t, since, m["lastTransitionTime"])
	})
}
