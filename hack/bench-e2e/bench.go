package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/examples"
	"github.com/korvid/korvid/internal/localcluster"
)

var (
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	benchAppsGVR   = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "benchapps"}
	rgdGVR         = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}
)

// instanceController is the name of the BenchApp instance controller in
// controller-runtime's metrics.
const instanceController = "instance-BenchApp.kro.run"

// instanceWebhooks are the instance webhooks of the install, by the names
// the API server's metrics give them.
var instanceWebhooks = []string{"vinstance.kro.run", "minstance.kro.run"}

// writeVerbs are the HTTP methods that change objects.
var writeVerbs = []string{"POST", "PUT", "PATCH", "DELETE"}

type bench struct {
	cfg     *config
	cluster *localcluster.Cluster
	dyn     dynamic.Interface
	// api is a REST client for the API server's own endpoints (/metrics).
	api     rest.Interface
	metrics *scraper
	kubectl string
	work    string
	// ns is the namespace of the current step: every step has its own. The
	// API server looks a namespace up live, on every create in it, for 30
	// seconds after a namespace of that name was deleted (NamespaceLifecycle
	// admission), so reusing one name would slow down whichever step
	// follows a deletion.
	ns string
	// runs counts the runs of each N so far: a size given twice in -n
	// (-n 200,200) is measured twice, each time in namespaces of its own.
	runs map[int]int
}

// runName names the current run of N in namespaces and profile files: N,
// or N-<run> from the second run of an N on.
func (b *bench) runName(n int) string {
	if run := b.runs[n]; run > 1 {
		return fmt.Sprintf("%d-%d", n, run)
	}
	return strconv.Itoa(n)
}

// namespaceFor names the namespace of a step of the current run of N,
// <prefix>-<run name>-<step>.
func (b *bench) namespaceFor(n int, step string) string {
	return fmt.Sprintf("%s-%s-%s", b.cfg.namespace, b.runName(n), step)
}

func newBench(ctx context.Context, cfg *config, cluster *localcluster.Cluster) (*bench, error) {
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		return nil, fmt.Errorf("building a dynamic client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cluster.Config)
	if err != nil {
		return nil, fmt.Errorf("building a discovery client: %w", err)
	}
	s, err := newScraper(cluster.ControllerMetricsAddress(), cluster.Config, cluster.Client, filepath.Join(cfg.cluster.Dir, localcluster.AdminTokenFile))
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, cluster: cluster, dyn: dyn, api: disc.RESTClient(), metrics: s, runs: map[int]int{},
		kubectl: filepath.Join(cfg.cluster.ControlPlaneDir, "kubectl"),
		work:    filepath.Join(cfg.cluster.Dir, "manifests")}
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", b.work, err)
	}
	// The metrics server may start listening a moment after the
	// controller reports ready.
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := s.scrape(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return b, nil
}

func (b *bench) runAll(ctx context.Context, res *results) error {
	rgd := filepath.Join(b.work, "rgd.yaml")
	if err := os.WriteFile(rgd, []byte(examples.BenchAppRGD), 0o644); err != nil {
		return fmt.Errorf("writing the RGD: %w", err)
	}
	if _, err := b.kubectlApply(ctx, rgd); err != nil {
		return err
	}
	if err := b.waitRGDActive(ctx); err != nil {
		return err
	}
	idle, err := b.idleRestartWrites(ctx)
	if err != nil {
		return err
	}
	res.IdleRestartWrites = idle
	for _, n := range b.cfg.sizes {
		r, err := b.runN(ctx, n, idle)
		if err != nil {
			return fmt.Errorf("run with N=%d: %w", n, err)
		}
		res.E2E = append(res.E2E, *r)
	}
	return nil
}

func (b *bench) runN(ctx context.Context, n int, idleWrites float64) (*e2eResult, error) {
	r := &e2eResult{N: n, Load: loadAvg()}
	b.runs[n]++
	floor := filepath.Join(b.work, fmt.Sprintf("floor-%d.yaml", n))
	instances := filepath.Join(b.work, fmt.Sprintf("instances-%d.yaml", n))
	stopped := filepath.Join(b.work, fmt.Sprintf("stopped-%d.yaml", n))
	floorNS, korvidNS, stoppedNS := b.namespaceFor(n, "floor"), b.namespaceFor(n, "korvid"), b.namespaceFor(n, "stopped")
	for _, f := range []struct {
		path string
		data []byte
	}{
		{floor, floorObjects(floorNS, n, b.cfg.replicas)},
		{instances, benchAppInstances(korvidNS, n, b.cfg.replicas)},
		{stopped, benchAppInstances(stoppedNS, n, b.cfg.replicas)},
	} {
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.path, err)
		}
	}

	// 1. The floor.
	logf("N=%d: floor: applying %d objects", n, 3*n)
	b.ns = floorNS
	if err := b.createNamespace(ctx); err != nil {
		return nil, err
	}
	cpu := b.cpuOf()
	apply, total, w, err := b.timed(ctx, floor, deploymentsGVR, n, deploymentAvailable)
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	r.FloorReadyP50, r.FloorReadyP99 = w.percentiles()
	r.FloorCPUSeconds = cpu.since(b.cpuOf())
	r.FloorApplySeconds, r.FloorSeconds = apply.Seconds(), total.Seconds()
	logf("N=%d: floor: applied in %.1fs, all Deployments available after %.1fs", n, r.FloorApplySeconds, r.FloorSeconds)
	took, err := b.deleteNamespace(ctx)
	if err != nil {
		return nil, err
	}
	r.FloorDeleteSeconds = took.Seconds()

	// 2. korvid, from a fresh controller.
	if err := b.restartController(ctx); err != nil {
		return nil, err
	}
	before, err := b.controllerStats()
	if err != nil {
		return nil, err
	}
	b.ns = korvidNS
	if err := b.createNamespace(ctx); err != nil {
		return nil, err
	}
	logf("N=%d: korvid: applying %d instances", n, n)
	stopProfile := b.profile(ctx, n)
	apiBefore, err := apiServerMetrics(ctx, b.api)
	if err != nil {
		return nil, err
	}
	cpu = b.cpuOf()
	apply, total, w, err = b.timed(ctx, instances, benchAppsGVR, n, instanceActive)
	r.KorvidCPUSeconds = cpu.since(b.cpuOf())
	stopProfile()
	if err != nil {
		return nil, fmt.Errorf("korvid: %w", err)
	}
	apiAfter, err := apiServerMetrics(ctx, b.api)
	if err != nil {
		return nil, err
	}
	calls, wait := webhookCalls(apiBefore, apiAfter, instanceWebhooks...)
	r.WebhookCallsPerInstance, r.WebhookWaitMs = calls/float64(n), wait.Seconds()*1000
	r.KorvidReadyP50, r.KorvidReadyP99 = w.percentiles()
	r.KorvidApplySeconds, r.KorvidSeconds = apply.Seconds(), total.Seconds()
	r.Ratio = r.KorvidSeconds / r.FloorSeconds
	after, err := b.controllerStats()
	if err != nil {
		return nil, err
	}
	m, err := b.metrics.scrape(ctx)
	if err != nil {
		return nil, err
	}
	r.PeakRSSMiB = after.peakRSSMiB
	r.RSSAnonMiB, r.RSSFileMiB = after.rssAnonMiB, after.rssFileMiB
	r.CPUSeconds = after.cpuSeconds - before.cpuSeconds
	r.RequestsPerInstance = map[string]float64{}
	for verb, v := range m.byLabel("rest_client_requests_total", "method") {
		r.RequestsPerInstance[verb] = v / float64(n)
	}
	r.WritesPerInstance = writes(m) / float64(n)
	r.AppliesPerInstance = m.sum("korvid_child_applies_total", nil) / float64(n)
	r.ReconcilesPerInstance = m.sum("controller_runtime_reconcile_total", nil) / float64(n)
	logf("N=%d: korvid: applied in %.1fs, all ACTIVE after %.1fs (%.2fx the floor); controller %.1f CPU s, peak RSS %.0f MiB, %.1f writes per instance",
		n, r.KorvidApplySeconds, r.KorvidSeconds, r.Ratio, r.CPUSeconds, r.PeakRSSMiB, r.WritesPerInstance)

	// 3. A no-op re-reconcile of the N ACTIVE instances.
	noop, err := b.restartWrites(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("no-op re-reconcile: %w", err)
	}
	r.NoopWrites = max(noop-idleWrites, 0)
	r.NoopWritesPerInstance = r.NoopWrites / float64(n)
	logf("N=%d: no-op re-reconcile: %.0f writes (%.0f in all, %.0f for an idle restart)", n, r.NoopWrites, noop, idleWrites)
	took, err = b.deleteNamespace(ctx)
	if err != nil {
		return nil, err
	}
	r.KorvidDeleteSeconds = took.Seconds()

	// 4. The same instances with the controller stopped.
	b.cluster.StopController()
	b.ns = stoppedNS
	if err := b.createNamespace(ctx); err != nil {
		return nil, err
	}
	if apiBefore, err = apiServerMetrics(ctx, b.api); err != nil {
		return nil, err
	}
	start := time.Now()
	if _, err := b.kubectlApply(ctx, stopped); err != nil {
		return nil, fmt.Errorf("controller stopped: %w", err)
	}
	r.StoppedApplySeconds = time.Since(start).Seconds()
	if apiAfter, err = apiServerMetrics(ctx, b.api); err != nil {
		return nil, err
	}
	_, wait = webhookCalls(apiBefore, apiAfter, instanceWebhooks...)
	r.StoppedWebhookWaitMs = wait.Seconds() * 1000
	r.CreationRatio = r.KorvidApplySeconds / r.StoppedApplySeconds
	logf("N=%d: controller stopped: applied in %.1fs (running: %.1fs, %.2fx)", n, r.StoppedApplySeconds, r.KorvidApplySeconds, r.CreationRatio)
	// Deleting first leaves the controller nothing to create; it starts to
	// release whatever a finalizer holds.
	if err := b.cluster.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.ns}}); err != nil {
		return nil, fmt.Errorf("deleting namespace %s: %w", b.ns, err)
	}
	if err := b.startController(ctx); err != nil {
		return nil, err
	}
	if _, err := b.deleteNamespace(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// timed starts watching gvr in the namespace, applies file with kubectl and
// returns how long the apply took and how long until n objects satisfied
// ok, and the counter that watched them.
func (b *bench) timed(ctx context.Context, file string, gvr schema.GroupVersionResource, n int, ok func(*unstructured.Unstructured) bool) (apply, total time.Duration, w *counter, err error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	defer cancel()
	w, err = b.watchCount(ctx, gvr, n, ok)
	if err != nil {
		return 0, 0, nil, err
	}
	start := time.Now()
	if _, err := b.kubectlApply(ctx, file); err != nil {
		return 0, 0, nil, err
	}
	apply = time.Since(start)
	select {
	case <-w.done:
		return apply, w.at.Sub(start), w, nil
	case <-ctx.Done():
		return 0, 0, nil, fmt.Errorf("%d of %d %s ready after %s: %w", w.count(), n, gvr.Resource, b.cfg.timeout, ctx.Err())
	}
}

// counter counts the objects of a watched kind that satisfy a condition and
// closes done, recording the time, when n do. It also records, for every
// object, how long it took from when the watch first saw it to when it first
// satisfied the condition.
type counter struct {
	mu      sync.Mutex
	ok      map[string]bool
	seen    map[string]time.Time
	latency map[string]time.Duration
	n       int
	at      time.Time
	done    chan struct{}
}

func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ok)
}

func (c *counter) observe(obj any, pred func(*unstructured.Unstructured) bool) {
	if d, isTombstone := obj.(toolscache.DeletedFinalStateUnknown); isTombstone {
		obj = d.Obj
	}
	u, isU := obj.(*unstructured.Unstructured)
	if !isU {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	name := u.GetName()
	if _, ok := c.seen[name]; !ok {
		c.seen[name] = now
	}
	if pred(u) {
		c.ok[name] = true
		if _, ok := c.latency[name]; !ok {
			c.latency[name] = now.Sub(c.seen[name])
		}
	} else {
		delete(c.ok, name)
	}
	if len(c.ok) >= c.n && c.at.IsZero() {
		c.at = now
		close(c.done)
	}
}

// percentiles returns the 50th and 99th percentiles of the objects' times
// from first seen to ready, in seconds.
func (c *counter) percentiles() (p50, p99 float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ds := make([]time.Duration, 0, len(c.latency))
	for _, d := range c.latency {
		ds = append(ds, d)
	}
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) float64 { return ds[min(len(ds)-1, int(q*float64(len(ds))))].Seconds() }
	return at(0.50), at(0.99)
}

func (b *bench) watchCount(ctx context.Context, gvr schema.GroupVersionResource, n int, pred func(*unstructured.Unstructured) bool) (*counter, error) {
	c := &counter{ok: map[string]bool{}, seen: map[string]time.Time{}, latency: map[string]time.Duration{}, n: n, done: make(chan struct{})}
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(b.dyn, 0, b.ns, nil)
	inf := f.ForResource(gvr).Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.observe(obj, pred) },
		UpdateFunc: func(_, obj any) { c.observe(obj, pred) },
		DeleteFunc: func(obj any) { c.observe(obj, func(*unstructured.Unstructured) bool { return false }) },
	}); err != nil {
		return nil, fmt.Errorf("watching %s: %w", gvr.Resource, err)
	}
	f.Start(ctx.Done())
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("watching %s: cache did not sync", gvr.Resource)
	}
	return c, nil
}

func deploymentAvailable(u *unstructured.Unstructured) bool {
	want, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	got, _, _ := unstructured.NestedInt64(u.Object, "status", "availableReplicas")
	return got >= want && got > 0
}

func instanceActive(u *unstructured.Unstructured) bool {
	state, _, _ := unstructured.NestedString(u.Object, "status", "state")
	return state == "ACTIVE"
}

func (b *bench) kubectlApply(ctx context.Context, file string) (string, error) {
	cmd := exec.CommandContext(ctx, b.kubectl, "apply", "--server-side", "-f", file)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+b.cluster.Kubeconfig)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("kubectl apply -f %s: %w: %s", file, err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func (b *bench) createNamespace(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.ns}}
	if err := b.cluster.Client.Create(ctx, ns); err != nil {
		return fmt.Errorf("creating namespace %s: %w", ns.Name, err)
	}
	return nil
}

// deleteNamespace deletes the namespace, waits until it is gone and returns
// how long that took.
func (b *bench) deleteNamespace(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.ns}}
	if err := b.cluster.Client.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("deleting namespace %s: %w", ns.Name, err)
	}
	err := wait.PollUntilContextTimeout(ctx, time.Second, b.cfg.timeout, true, func(ctx context.Context) (bool, error) {
		err := b.cluster.Client.Get(ctx, client.ObjectKey{Name: ns.Name}, &corev1.Namespace{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return 0, fmt.Errorf("namespace %s not gone: %w", ns.Name, err)
	}
	took := time.Since(start)
	logf("namespace %s cleaned in %.1fs", ns.Name, took.Seconds())
	return took, nil
}

func (b *bench) waitRGDActive(ctx context.Context) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		u, err := b.dyn.Resource(rgdGVR).Get(ctx, "benchapps", metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // retried until the timeout
		}
		state, _, _ := unstructured.NestedString(u.Object, "status", "state")
		return state == "Active", nil
	})
	if err != nil {
		return fmt.Errorf("RGD benchapps not Active: %w", err)
	}
	return nil
}

func (b *bench) controllerStats() (procStats, error) {
	pid := b.cluster.ControllerPID()
	if pid == 0 {
		return procStats{}, fmt.Errorf("the controller is not running")
	}
	return readProc(pid)
}

// startController starts the controller and waits until its BenchApp
// instance controller runs.
func (b *bench) startController(ctx context.Context) error {
	if err := b.cluster.StartController(ctx); err != nil {
		return err
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		m, err := b.metrics.scrape(ctx)
		return err == nil && m.sum("korvid_instance_controllers", nil) >= 1, nil
	})
	if err != nil {
		return fmt.Errorf("the BenchApp instance controller did not start: %w", err)
	}
	return nil
}

func (b *bench) restartController(ctx context.Context) error {
	b.cluster.StopController()
	return b.startController(ctx)
}

func writes(m samples) float64 {
	var total float64
	for _, v := range writeVerbs {
		total += m.sum("rest_client_requests_total", map[string]string{"method": v})
	}
	return total
}

// restartWrites restarts the controller, waits until it has reconciled n
// instances and gone quiet, and returns the API writes it made.
func (b *bench) restartWrites(ctx context.Context, n int) (float64, error) {
	if err := b.restartController(ctx); err != nil {
		return 0, err
	}
	last := -1.0
	stable := 0
	var m samples
	err := wait.PollUntilContextTimeout(ctx, time.Second, b.cfg.timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		if m, err = b.metrics.scrape(ctx); err != nil {
			return false, nil //nolint:nilerr // retried until the timeout
		}
		reconciled := m.sum("controller_runtime_reconcile_total", map[string]string{"controller": instanceController})
		busy := m.sum("workqueue_depth", map[string]string{"name": instanceController}) +
			m.sum("controller_runtime_active_workers", map[string]string{"controller": instanceController})
		w := writes(m)
		if reconciled >= float64(n) && busy == 0 && w == last {
			stable++
		} else {
			stable = 0
		}
		last = w
		return stable >= 3, nil
	})
	if err != nil {
		return 0, fmt.Errorf("the controller did not settle: %w", err)
	}
	return writes(m), nil
}

// idleRestartWrites measures the writes of a controller restart with the
// RGD active and no instances.
func (b *bench) idleRestartWrites(ctx context.Context) (float64, error) {
	return b.restartWrites(ctx, 0)
}

// profile starts CPU profiling the controller when it serves pprof, in
// back-to-back chunks of profileChunk (a pprof profile cannot be cut short),
// and returns the function that waits for the last chunk and writes a heap
// profile. The files are cpu-<n>-<k>.pprof and heap-<n>.pprof in the output
// directory; `go tool pprof` merges the chunks when given them all.
func (b *bench) profile(ctx context.Context, n int) func() {
	if b.cfg.pprof == "" {
		return func() {}
	}
	base := "http://" + b.cfg.pprof + "/debug/pprof/"
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for k := 0; ; k++ {
			url := fmt.Sprintf("%sprofile?seconds=%d", base, int(profileChunk.Seconds()))
			if err := fetch(ctx, url, filepath.Join(b.cfg.out, fmt.Sprintf("cpu-%s-%03d.pprof", b.runName(n), k))); err != nil {
				logf("CPU profile: %v", err)
				return
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		if err := fetch(ctx, base+"heap", filepath.Join(b.cfg.out, fmt.Sprintf("heap-%s.pprof", b.runName(n)))); err != nil {
			logf("heap profile: %v", err)
		}
	}
}

// profileChunk is the length of one CPU profile request.
const profileChunk = 5 * time.Second

// fetch GETs url into the file path.
func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// processes are the children whose CPU time is reported per step.
var processes = []string{"kube-apiserver", "etcd", "webhook", "controller", "kube-controller-manager", "kube-scheduler", "kwok"}

// cpuTimes are CPU seconds per child process.
type cpuTimes map[string]float64

func (b *bench) cpuOf() cpuTimes {
	out := cpuTimes{}
	for _, name := range processes {
		if pid := b.cluster.PID(name); pid != 0 {
			if st, err := readProc(pid); err == nil {
				out[name] = st.cpuSeconds
			}
		}
	}
	return out
}

// since returns the CPU seconds each process spent from c to later, and
// their total under "total".
func (c cpuTimes) since(later cpuTimes) map[string]float64 {
	out := map[string]float64{}
	for name, v := range later {
		d := v - c[name]
		out[name] = d
		out["total"] += d
	}
	return out
}
