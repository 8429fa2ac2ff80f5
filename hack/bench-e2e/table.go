package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// microResult is one `go test -bench` line: the benchmark and its metrics
// by unit (ns/op, B/op, allocs/op, p50-ms, p99-ms, req/s, ...).
type microResult struct {
	Name    string             `json:"name"`
	Metrics map[string]float64 `json:"metrics"`
	// Units keeps the order go test printed them in.
	Units []string `json:"units"`
}

// parseMicro reads `go test -bench` output.
func parseMicro(path string) ([]microResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading micro benchmarks: %w", err)
	}
	defer func() { _ = f.Close() }()
	var out []microResult
	pkg := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) == 2 && fields[0] == "pkg:":
			pkg = fields[1]
			if i := strings.Index(pkg, "internal/"); i >= 0 {
				pkg = pkg[i:]
			}
		case len(fields) >= 4 && strings.HasPrefix(fields[0], "Benchmark"):
			name := fields[0]
			if i := strings.LastIndexByte(name, '-'); i > 0 {
				if _, err := strconv.Atoi(name[i+1:]); err == nil {
					name = name[:i]
				}
			}
			r := microResult{Name: pkg + "." + name, Metrics: map[string]float64{}}
			for i := 2; i+1 < len(fields); i += 2 {
				v, err := strconv.ParseFloat(fields[i], 64)
				if err != nil {
					continue
				}
				r.Metrics[fields[i+1]] = v
				r.Units = append(r.Units, fields[i+1])
			}
			out = append(out, r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading micro benchmarks: %w", err)
	}
	return out, nil
}

// printTable writes the micro benchmarks and the end-to-end figures, one
// column per N.
func printTable(out io.Writer, res *results) error {
	var b strings.Builder
	writeTable(&b, res)
	_, err := io.WriteString(out, b.String())
	return err
}

func writeTable(w *strings.Builder, res *results) {
	if len(res.Micro) > 0 {
		fmt.Fprintln(w, "micro benchmarks")
		for _, m := range res.Micro {
			row := fmt.Sprintf("  %-56s", m.Name)
			for _, u := range m.Units {
				row += fmt.Sprintf("  %12s %s", strconv.FormatFloat(m.Metrics[u], 'f', -1, 64), u)
			}
			fmt.Fprintln(w, row)
		}
		if share, ok := admissionShareOfFloor(res.Micro); ok {
			fmt.Fprintf(w, "  instance admission under load: %.0f%% of what the same harness serves with a handler that does nothing\n", 100*share)
		}
	}
	if len(res.E2E) == 0 {
		return
	}
	fmt.Fprintf(w, "\nend to end: BenchApp = ConfigMap + Deployment (readyWhen available) + Service; %d fake nodes holding %d pods\n", res.Nodes, res.PodCapacity)
	header := fmt.Sprintf("  %-58s", "figure")
	for _, r := range res.E2E {
		header += fmt.Sprintf(" %12s", "N="+strconv.Itoa(r.N))
	}
	fmt.Fprintln(w, header)
	row := func(label string, f func(e2eResult) string) {
		line := fmt.Sprintf("  %-58s", label)
		for _, r := range res.E2E {
			line += fmt.Sprintf(" %12s", f(r))
		}
		fmt.Fprintln(w, line)
	}
	// figure is a row of one number per N.
	type figure struct {
		label, format string
		of            func(e2eResult) float64
	}
	rows := func(figures ...figure) {
		for _, f := range figures {
			row(f.label, func(r e2eResult) string { return fmt.Sprintf(f.format, f.of(r)) })
		}
	}
	rows(
		figure{"floor: kubectl apply of 3N objects (s)", "%.1f", func(r e2eResult) float64 { return r.FloorApplySeconds }},
		figure{"floor: to all Deployments available (s)", "%.1f", func(r e2eResult) float64 { return r.FloorSeconds }},
		figure{"korvid: kubectl apply of N instances (s)", "%.1f", func(r e2eResult) float64 { return r.KorvidApplySeconds }},
		figure{"korvid: to all instances ACTIVE (s)", "%.1f", func(r e2eResult) float64 { return r.KorvidSeconds }},
		figure{"ratio to the floor", "%.2f", func(r e2eResult) float64 { return r.Ratio }},
		figure{"floor: one Deployment, created to available, p50 (s)", "%.2f", func(r e2eResult) float64 { return r.FloorReadyP50 }},
		figure{"floor: one Deployment, created to available, p99 (s)", "%.2f", func(r e2eResult) float64 { return r.FloorReadyP99 }},
		figure{"korvid: one instance, created to ACTIVE, p50 (s)", "%.2f", func(r e2eResult) float64 { return r.KorvidReadyP50 }},
		figure{"korvid: one instance, created to ACTIVE, p99 (s)", "%.2f", func(r e2eResult) float64 { return r.KorvidReadyP99 }},
		figure{"kubectl apply of N instances, controller stopped (s)", "%.1f", func(r e2eResult) float64 { return r.StoppedApplySeconds }},
		figure{"creation with the controller running / stopped", "%.2f", func(r e2eResult) float64 { return r.CreationRatio }},
		figure{"instance webhook calls per instance (API server's metrics)", "%.2f", func(r e2eResult) float64 { return r.WebhookCallsPerInstance }},
		figure{"the API server's mean wait for one, running (ms)", "%.1f", func(r e2eResult) float64 { return r.WebhookWaitMs }},
		figure{"the same, controller stopped (ms)", "%.1f", func(r e2eResult) float64 { return r.StoppedWebhookWaitMs }},
		figure{"controller peak RSS (MiB)", "%.0f", func(r e2eResult) float64 { return r.PeakRSSMiB }},
		figure{"controller RSS at all ACTIVE: anonymous (MiB)", "%.0f", func(r e2eResult) float64 { return r.RSSAnonMiB }},
		figure{"controller RSS at all ACTIVE: its binary's pages (MiB)", "%.0f", func(r e2eResult) float64 { return r.RSSFileMiB }},
		figure{"controller CPU, start to all ACTIVE (s)", "%.1f", func(r e2eResult) float64 { return r.CPUSeconds }},
		figure{"API writes per instance, creation to ACTIVE", "%.2f", func(r e2eResult) float64 { return r.WritesPerInstance }},
		figure{"child applies per instance (korvid_child_applies_total)", "%.2f", func(r e2eResult) float64 { return r.AppliesPerInstance }},
		figure{"reconciles per instance (controller_runtime_reconcile_total)", "%.2f", func(r e2eResult) float64 { return r.ReconcilesPerInstance }},
		figure{"no-op re-reconcile: API writes (all N)", "%.0f", func(r e2eResult) float64 { return r.NoopWrites }},
		figure{"namespace deletion after the floor (s)", "%.1f", func(r e2eResult) float64 { return r.FloorDeleteSeconds }},
		figure{"namespace deletion after korvid (s)", "%.1f", func(r e2eResult) float64 { return r.KorvidDeleteSeconds }},
	)
	for _, p := range append([]string{"total"}, processes...) {
		row("CPU s, floor / korvid: "+p, func(r e2eResult) string {
			return fmt.Sprintf("%.1f/%.1f", r.FloorCPUSeconds[p], r.KorvidCPUSeconds[p])
		})
	}
	var verbs []string
	for _, r := range res.E2E {
		for v := range r.RequestsPerInstance {
			if !slices.Contains(verbs, v) {
				verbs = append(verbs, v)
			}
		}
	}
	slices.Sort(verbs)
	for _, v := range verbs {
		rows(figure{"API requests per instance: " + v, "%.2f", func(r e2eResult) float64 { return r.RequestsPerInstance[v] }})
	}
	row("load average at start of N (1/5/15 min)", func(r e2eResult) string { return strings.ReplaceAll(r.Load, " ", "/") })
	fmt.Fprintf(w, "  load average: %s before, %s after; an idle controller restart writes %.0f times\n", res.LoadBefore, res.LoadAfter, res.IdleRestartWrites)
}

// admissionShareOfFloor is the instance webhook's throughput under load as
// a share of BenchmarkAdmissionLoadFloor's, the same harness with a handler
// that does no work: on one machine the clients share the cores with the
// server, and the floor is what any webhook could serve there.
func admissionShareOfFloor(micro []microResult) (float64, bool) {
	rate := func(name string) float64 {
		for _, m := range micro {
			if m.Name == "internal/admission."+name {
				return m.Metrics["req/s"]
			}
		}
		return 0
	}
	got, floor := rate("BenchmarkInstanceAdmissionLoad"), rate("BenchmarkAdmissionLoadFloor")
	if got == 0 || floor == 0 {
		return 0, false
	}
	return got / floor, true
}
