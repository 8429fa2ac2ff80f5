package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTableGivesEveryFigureOfEveryN(t *testing.T) {
	var b strings.Builder
	writeTable(&b, &results{
		Nodes: 2, PodCapacity: 5000, LoadBefore: "1 1 1", LoadAfter: "2 2 2",
		E2E: []e2eResult{
			{N: 200, Ratio: 1.57, WritesPerInstance: 7.08, ReconcilesPerInstance: 3.31,
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
		`reconciles per instance \(controller_runtime_reconcile_total\) +3\.31 +3\.41`,
		`CPU s, floor / korvid: total +11\.0/18\.3 +61\.1/90\.6`,
		`API requests per instance: GET +3\.10 +3\.03`,
		`API requests per instance: PATCH +6\.00 +0\.00`,
		`load average at start of N \(1/5/15 min\) +1\.49/1\.92/1\.40 +1\.23/1\.82/1\.67`,
	} {
		assert.Regexp(t, regexp.MustCompile(`(?m)^  `+want+`$`), out)
	}
}
