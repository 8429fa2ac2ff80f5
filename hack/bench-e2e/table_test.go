package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestTableGivesEveryFigureOfEveryN(t *testing.T) {
	var b strings.Builder
	writeTable(&b, &results{
		Nodes: 2, PodCapacity: 5000, LoadBefore: "1 1 1", LoadAfter: "2 2 2",
		E2E: []e2eResult{
			{N: 200, Ratio: 1.57, WritesPerInstance: 7.08, ReconcilesPerInstance: 3.31, WebhookCallsPerInstance: 1, WebhookWaitMs: 14.84,
				RequestsPerInstance: map[string]float64{"GET": 3.1, "PATCH": 6},
				FloorCPUSeconds:     map[string]float64{"total": 11}, KorvidCPUSeconds: map[string]float64{"total": 18.3},
				Load: "1.49 1.92 1.40"},
			{N: 1000, Ratio: 1.41, WritesPerInstance: 7.03, ReconcilesPerInstance: 3.41,
				RequestsPerInstance: map[string]float64{"GET": 3.03},
				FloorCPUSeconds:     map[string]float64{"total": 61.1}, KorvidCPUSeconds: map[string]float64{"total": 90.6},
				Load: "1.23 1.82 1.67"},
		},
	})
	out := b.String()
	for _, want := range []string{
		`ratio to the floor +1\.57 +1\.41`,
		`API writes per instance, creation to ACTIVE +7\.08 +7\.03`,
		`instance webhook calls per instance \(API server's metrics\) +1\.00 +0\.00`,
		`the API server's mean wait for one, running \(ms\) +14\.8 +0\.0`,
		`reconciles per instance \(controller_runtime_reconcile_total\) +3\.31 +3\.41`,
		`CPU s, floor / korvid: total +11\.0/18\.3 +61\.1/90\.6`,
		`API requests per instance: GET +3\.10 +3\.03`,
		`API requests per instance: PATCH +6\.00 +0\.00`,
		`load average at start of N \(1/5/15 min\) +1\.49/1\.92/1\.40 +1\.23/1\.82/1\.67`,
	} {
		assert.Regexp(t, regexp.MustCompile(`(?m)^  `+want+`$`), out)
	}
}

func TestCounterTimesEachObjectFromFirstSeenToReady(t *testing.T) {
	c := &counter{ok: map[string]bool{}, seen: map[string]time.Time{}, latency: map[string]time.Duration{}, n: 2, done: make(chan struct{})}
	ready := func(u *unstructured.Unstructured) bool { return u.GetLabels()["ready"] == "true" }
	obj := func(name, isReady string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetName(name)
		u.SetLabels(map[string]string{"ready": isReady})
		return u
	}
	c.observe(obj("slow", "false"), ready)
	c.observe(obj("fast", "false"), ready)
	// As if slow had been seen 3 s ago and fast 1 s ago.
	c.seen["slow"] = c.seen["slow"].Add(-3 * time.Second)
	c.seen["fast"] = c.seen["fast"].Add(-time.Second)
	c.observe(obj("fast", "true"), ready)
	c.observe(obj("slow", "true"), ready)
	c.observe(obj("fast", "false"), ready) // not ready again: its first time stays
	c.observe(obj("fast", "true"), ready)

	p50, p99 := c.percentiles()
	assert.InDelta(t, 3, p50, 0.5, "the slower of two objects is the median")
	assert.InDelta(t, 3, p99, 0.5)
	assert.InDelta(t, 1, c.latency["fast"].Seconds(), 0.5)
	select {
	case <-c.done:
	default:
		t.Fatal("both objects were ready, but the counter is not done")
	}
}

func TestEveryRunOfEveryNHasNamespacesOfItsOwn(t *testing.T) {
	b := &bench{cfg: &config{namespace: "bench"}, runs: map[int]int{}}
	seen := map[string]bool{}
	for _, n := range []int{200, 1000, 200, 200} {
		b.runs[n]++
		for _, step := range []string{"floor", "korvid", "stopped"} {
			ns := b.namespaceFor(n, step)
			assert.False(t, seen[ns], "namespace %s used twice", ns)
			seen[ns] = true
		}
	}
	assert.True(t, seen["bench-200-korvid"])
	assert.True(t, seen["bench-200-3-stopped"])
	assert.Len(t, seen, 12)
}

func TestTableReadsInstanceAdmissionAgainstTheHarnessFloor(t *testing.T) {
	load := microResult{Name: "internal/admission.BenchmarkInstanceAdmissionLoad", Metrics: map[string]float64{"req/s": 4548}, Units: []string{"req/s"}}
	floor := microResult{Name: "internal/admission.BenchmarkAdmissionLoadFloor", Metrics: map[string]float64{"req/s": 8665}, Units: []string{"req/s"}}
	var b strings.Builder
	writeTable(&b, &results{Micro: []microResult{load, floor}})
	assert.Contains(t, b.String(), "  instance admission under load: 52% of what the same harness serves with a handler that does nothing\n")

	b.Reset()
	writeTable(&b, &results{Micro: []microResult{load}})
	assert.NotContains(t, b.String(), "instance admission under load", "no share without the floor")
}
