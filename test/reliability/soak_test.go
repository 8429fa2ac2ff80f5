package reliability

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
)

// Soak: many instances updated in a loop. Goroutines and heap of the
// process running the controller are measured once everything is ACTIVE
// and again after the loop has settled; no Warning event may be recorded.
// `make test` runs a short version; `make soak` runs 1000 instances for 10
// minutes (KORVID_SOAK_INSTANCES, KORVID_SOAK_DURATION).
func TestSoak(t *testing.T) {
	ctx := context.Background()
	n := envInt("KORVID_SOAK_INSTANCES", 40)
	duration := 15 * time.Second
	if d, err := time.ParseDuration(os.Getenv("KORVID_SOAK_DURATION")); err == nil {
		duration = d
	}
	ns := "soak"
	require.NoError(t, client.IgnoreAlreadyExists(env.Client.Create(ctx, namespaceObject(ns))))
	startController(t)
	createRGD(t, configMapRGD("soak", "Soak"))
	waitRGDState(t, "soak", v1alpha1.ResourceGraphDefinitionStateActive)
	name := func(i int) string { return "s" + strconv.Itoa(i) }
	for i := range n {
		createInstance(t, "Soak", ns, name(i), map[string]any{"value": "0"})
	}
	converge := func(value string) {
		t.Helper()
		assert.EventuallyWithT(t, func(c *assert.CollectT) {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(kindGVK("Soak").GroupVersion().WithKind("SoakList"))
			if !assert.NoError(c, env.Client.List(ctx, list, client.InNamespace(ns))) {
				return
			}
			active := 0
			for i := range list.Items {
				if state(&list.Items[i]) == v1alpha1.InstanceStateActive {
					active++
				}
			}
			assert.Equal(c, n, active, "ACTIVE instances")
			cms := &unstructured.UnstructuredList{}
			cms.SetGroupVersionKind(configMapGVK.GroupVersion().WithKind("ConfigMapList"))
			if !assert.NoError(c, env.Client.List(ctx, cms, client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelInstanceKind: "Soak"})) {
				return
			}
			current := 0
			for i := range cms.Items {
				if cms.Items[i].Object["data"].(map[string]any)["value"] == value {
					current++
				}
			}
			assert.Equal(c, n, current, "children at value %s", value)
		}, 5*timeout, time.Second)
	}
	converge("0")
	g0, h0 := footprint()

	start := time.Now()
	rounds := 0
	for time.Since(start) < duration {
		rounds++
		v := strconv.Itoa(rounds)
		for i := range n {
			u, err := get(kindGVK("Soak"), ns, name(i))
			require.NoError(t, err)
			require.NoError(t, unstructured.SetNestedField(u.Object, v, "spec", "value"))
			require.NoError(t, env.Client.Update(ctx, u))
		}
		converge(v)
	}
	time.Sleep(5 * time.Second) // let informers and work queues drain
	g1, h1 := footprint()

	events := &eventsv1.EventList{}
	require.NoError(t, env.Client.List(ctx, events, client.InNamespace(ns)))
	var warnings []string
	for _, e := range events.Items {
		if e.Type == "Warning" {
			warnings = append(warnings, e.Regarding.Name+": "+e.Reason+": "+e.Note)
		}
	}
	assert.Empty(t, warnings, "no Warning events during the soak")
	assert.Less(t, g1, g0+g0/2+50, "goroutines do not grow with the number of updates")
	t.Logf("figure: soak of %d instances, %d update rounds over %s: goroutines %d -> %d, heap %.1f -> %.1f MiB, %d Warning events",
		n, rounds, time.Since(start).Round(time.Second), g0, g1, float64(h0)/(1<<20), float64(h1)/(1<<20), len(warnings))
}

// footprint returns the goroutines and live heap of this process (which
// runs the controller) after a garbage collection.
func footprint() (goroutines int, heap uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), m.HeapAlloc
}
