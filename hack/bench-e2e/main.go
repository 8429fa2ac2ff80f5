// Command bench-e2e measures korvid end to end on the local cluster (see
// internal/localcluster), next to the floor: the same objects applied directly
// with kubectl. For every N it runs, each step in a namespace of its own,
// deleted before the next step starts:
//
//  1. the floor: the 3N objects of N BenchApps (ConfigMap, Deployment,
//     Service) applied with `kubectl apply --server-side`, timed until every
//     Deployment is available;
//  2. korvid: N BenchApp instances applied with kubectl, timed until every
//     instance is ACTIVE, with the controller's CPU seconds, peak RSS and API
//     requests by verb (its rest_client_requests_total) from a fresh start;
//  3. a no-op re-reconcile: the controller restarted over the N ACTIVE
//     instances, and the API writes it makes beyond an idle restart;
//  4. the same N instances applied with the controller stopped, to show
//     what the running controller costs other API clients.
//
// It merges the micro benchmarks (`go test -bench` output, --micro) into
// one table, prints it and writes it as JSON.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/korvid/korvid/internal/localcluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	flags     localcluster.Flags
	cluster   localcluster.Options
	sizes     []int
	replicas  int
	micro     string
	out       string
	namespace string
	timeout   time.Duration
	// pprof is the controller's pprof address; when set, a CPU profile of
	// every korvid run and a heap profile at its end are written to out.
	pprof string
	// memoryLimit is the controller's GOMEMLIMIT, if set.
	memoryLimit string
}

func parseFlags() (*config, error) {
	c := &config{}
	c.flags.AddFlags(flag.CommandLine, "bin/bench/cluster")
	sizes := flag.String("n", "200,1000", "comma-separated numbers of BenchApps to measure; a number given again is measured again (200,200,200: three runs, one column each)")
	flag.IntVar(&c.replicas, "replicas", 1, "replicas of each BenchApp Deployment")
	flag.StringVar(&c.micro, "micro", "", "file with `go test -bench` output to include in the table")
	flag.StringVar(&c.out, "out", "bin/bench", "directory the JSON results are written to")
	flag.StringVar(&c.namespace, "namespace", "bench", "prefix of the namespaces the objects are created in (one per step: <prefix>-<N>-floor, -korvid, -stopped; <prefix>-<N>-<run>-... from the second run of an N)")
	var controllerArgs []string
	flag.Func("controller-arg", "extra flag of the korvid controller, e.g. --controller-arg=--max-concurrent-reconciles=4 (repeatable)", func(v string) error {
		controllerArgs = append(controllerArgs, v)
		return nil
	})
	flag.DurationVar(&c.timeout, "timeout", 15*time.Minute, "limit of every wait")
	flag.StringVar(&c.memoryLimit, "controller-memory-limit", "", "if set, the controller runs with this Go soft memory limit (GOMEMLIMIT, e.g. 56MiB), as the install sets it from the container's memory limit")
	flag.StringVar(&c.pprof, "pprof-bind-address", "", "if set, the controller serves pprof there and a CPU profile of each korvid run (to all ACTIVE) and a heap profile at its end are written to --out")
	flag.Parse()
	for _, s := range strings.Split(*sizes, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-n: %q is not a positive number", s)
		}
		c.sizes = append(c.sizes, n)
	}
	if len(c.sizes) == 0 {
		return nil, errors.New("-n: no sizes")
	}
	var err error
	if c.cluster, err = c.flags.Resolve(); err != nil {
		return nil, err
	}
	c.cluster.Logf = logf
	c.cluster.ControllerArgs = append(c.cluster.ControllerArgs, controllerArgs...)
	if c.memoryLimit != "" {
		c.cluster.ControllerEnv = append(c.cluster.ControllerEnv, "GOMEMLIMIT="+c.memoryLimit)
	}
	if c.pprof != "" {
		c.cluster.ControllerArgs = append(c.cluster.ControllerArgs, "--pprof-bind-address="+c.pprof)
	}
	if c.out, err = filepath.Abs(c.out); err != nil {
		return nil, fmt.Errorf("resolving --out: %w", err)
	}
	// Profiles are written there during the run, before the JSON.
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return nil, fmt.Errorf("creating --out: %w", err)
	}
	return c, nil
}

func run() error {
	cfg, err := parseFlags()
	if err != nil {
		return err
	}
	var micro []microResult
	if cfg.micro != "" {
		if micro, err = parseMicro(cfg.micro); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cluster, err := localcluster.Start(ctx, cfg.cluster)
	if err != nil {
		return err
	}
	res := &results{Started: time.Now().UTC(), Nodes: cfg.cluster.Nodes, PodCapacity: cfg.cluster.PodCapacity(), Micro: micro, LoadBefore: loadAvg()}
	b, err := newBench(ctx, cfg, cluster)
	if err == nil {
		err = b.runAll(ctx, res)
	}
	res.LoadAfter = loadAvg()
	if stopErr := cluster.Stop(); stopErr != nil {
		err = errors.Join(err, stopErr)
	}
	if len(res.E2E) > 0 || len(res.Micro) > 0 {
		if perr := printTable(os.Stdout, res); perr != nil {
			err = errors.Join(err, perr)
		}
		if werr := writeJSON(cfg.out, res); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	return err
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// loadAvg is the machine's load average (1, 5, 15 minutes), as /proc shows it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// results is everything one run measured; it is written as JSON.
type results struct {
	Started     time.Time     `json:"started"`
	Nodes       int           `json:"nodes"`
	PodCapacity int           `json:"podCapacity"`
	LoadBefore  string        `json:"loadAverageBefore"`
	LoadAfter   string        `json:"loadAverageAfter"`
	Micro       []microResult `json:"micro,omitempty"`
	// IdleRestartWrites are the API writes of a controller restart with no
	// instances; no-op re-reconcile writes are counted beyond them.
	IdleRestartWrites float64     `json:"idleRestartWrites"`
	E2E               []e2eResult `json:"e2e,omitempty"`
}

// e2eResult holds the figures of one N.
type e2eResult struct {
	N int `json:"n"`
	// FloorApplySeconds is how long `kubectl apply` of the 3N objects took;
	// FloorSeconds is the time until every Deployment was available.
	FloorApplySeconds float64 `json:"floorApplySeconds"`
	FloorSeconds      float64 `json:"floorSeconds"`
	// FloorCPUSeconds and KorvidCPUSeconds are the CPU seconds each process
	// of the cluster spent from the apply to all ready, and their total.
	FloorCPUSeconds  map[string]float64 `json:"floorCPUSecondsByProcess"`
	KorvidCPUSeconds map[string]float64 `json:"korvidCPUSecondsByProcess"`
	// KorvidApplySeconds is how long `kubectl apply` of the N instances took
	// with the controller running; KorvidSeconds is the time until every
	// instance was ACTIVE.
	KorvidApplySeconds float64 `json:"korvidApplySeconds"`
	KorvidSeconds      float64 `json:"korvidSeconds"`
	// FloorReadyP50/P99 and KorvidReadyP50/P99 are percentiles, over the
	// N Deployments or instances, of the time from when a watch first saw
	// one to when it was available or ACTIVE.
	FloorReadyP50  float64 `json:"floorReadyP50Seconds"`
	FloorReadyP99  float64 `json:"floorReadyP99Seconds"`
	KorvidReadyP50 float64 `json:"korvidReadyP50Seconds"`
	KorvidReadyP99 float64 `json:"korvidReadyP99Seconds"`
	Ratio          float64 `json:"ratioToFloor"`
	// StoppedApplySeconds is `kubectl apply` of the same N instances with the
	// controller stopped.
	StoppedApplySeconds float64 `json:"stoppedApplySeconds"`
	CreationRatio       float64 `json:"creationRatio"`
	// Controller figures from a fresh start to all ACTIVE.
	PeakRSSMiB float64 `json:"controllerPeakRSSMiB"`
	// RSSAnonMiB and RSSFileMiB split the controller's resident set once
	// all are ACTIVE: anonymous memory, and the pages of its binary.
	RSSAnonMiB          float64            `json:"controllerRSSAnonMiB"`
	RSSFileMiB          float64            `json:"controllerRSSFileMiB"`
	CPUSeconds          float64            `json:"controllerCPUSeconds"`
	RequestsPerInstance map[string]float64 `json:"requestsPerInstanceByVerb"`
	WritesPerInstance   float64            `json:"writesPerInstance"`
	AppliesPerInstance  float64            `json:"childAppliesPerInstance"`
	// ReconcilesPerInstance counts every controller's reconciles (the RGD
	// controller's few included) per instance, creation to ACTIVE.
	ReconcilesPerInstance float64 `json:"reconcilesPerInstance"`
	// NoopWrites are the writes of a restart over N ACTIVE instances beyond
	// an idle restart.
	NoopWrites            float64 `json:"noopReconcileWrites"`
	NoopWritesPerInstance float64 `json:"noopReconcileWritesPerInstance"`
	// WebhookCallsPerInstance are the instance webhook calls the API server
	// made per instance while korvid created them; WebhookWaitMs and
	// StoppedWebhookWaitMs are the mean time it waited for one, with the
	// controller running and stopped (how much the busy cluster slows each
	// create down).
	WebhookCallsPerInstance float64 `json:"instanceWebhookCallsPerInstance"`
	WebhookWaitMs           float64 `json:"instanceWebhookWaitMilliseconds"`
	StoppedWebhookWaitMs    float64 `json:"stoppedInstanceWebhookWaitMilliseconds"`
	// FloorDeleteSeconds and KorvidDeleteSeconds are how long deleting the
	// namespace took after each (korvid deletes children in reverse order).
	FloorDeleteSeconds  float64 `json:"floorNamespaceDeleteSeconds"`
	KorvidDeleteSeconds float64 `json:"korvidNamespaceDeleteSeconds"`
	Load                string  `json:"loadAverage"`
}

func writeJSON(dir string, res *results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	b = append(b, '\n')
	name := filepath.Join(dir, "bench-"+res.Started.Format("20060102-150405")+".json")
	for _, p := range []string{name, filepath.Join(dir, "bench.json")} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	logf("results written to %s", name)
	return nil
}
