package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// samples is one scrape.
type samples []sample

// sum adds the values of the series called name whose labels match every
// key=value in match.
func (s samples) sum(name string, match map[string]string) float64 {
	var total float64
	for _, x := range s {
		if x.name != name {
			continue
		}
		ok := true
		for k, v := range match {
			if x.labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			total += x.value
		}
	}
	return total
}

// byLabel adds the values of the series called name per value of label.
func (s samples) byLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, x := range s {
		if x.name == name {
			out[x.labels[label]] += x.value
		}
	}
	return out
}

// parseText reads the Prometheus text exposition format into one sample
// per series (counters, gauges and untyped values), and histograms as
// their _sum and _count: what the bench reads.
func parseText(r io.Reader) (samples, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	var out samples
	for name, f := range families {
		for _, m := range f.GetMetric() {
			s := sample{name: name, labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			case m.Untyped != nil:
				s.value = m.GetUntyped().GetValue()
			case m.Histogram != nil:
				// A histogram is read as its _sum and _count series.
				h := m.GetHistogram()
				out = append(out,
					sample{name: name + "_sum", labels: s.labels, value: h.GetSampleSum()},
					sample{name: name + "_count", labels: s.labels, value: float64(h.GetSampleCount())})
				continue
			default:
				continue
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// scraper reads the controller's metrics endpoint whichever way it is
// served: HTTPS (certificate not verified: it is a local scrape) with the
// local cluster's admin token when it has one, the admin client certificate
// and, when the endpoint still refuses, a service account token allowed to
// GET /metrics; or plain HTTP.
type scraper struct {
	addr  string
	cfg   *rest.Config
	c     client.Client
	token string
	hc    *http.Client
}

func newScraper(addr string, cfg *rest.Config, c client.Client, tokenFile string) (*scraper, error) {
	tlsCfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // local scrape of a self-signed endpoint
	if len(cfg.CertData) > 0 && len(cfg.KeyData) > 0 {
		cert, err := tls.X509KeyPair(cfg.CertData, cfg.KeyData)
		if err != nil {
			return nil, fmt.Errorf("loading the admin certificate: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	var token string
	if b, err := os.ReadFile(tokenFile); err == nil {
		token = strings.TrimSpace(string(b))
	}
	return &scraper{addr: addr, cfg: cfg, c: c, token: token, hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}}, nil
}

func (s *scraper) scrape(ctx context.Context) (samples, error) {
	var errs []error
	for attempt := 0; attempt < 2; attempt++ {
		denied := false
		for _, scheme := range []string{"https", "http"} {
			got, status, err := s.get(ctx, scheme+"://"+s.addr+"/metrics")
			if err == nil {
				return got, nil
			}
			if status == http.StatusUnauthorized || status == http.StatusForbidden {
				denied = true
			}
			errs = append(errs, err)
		}
		if !denied || attempt > 0 {
			break
		}
		if err := s.fetchToken(ctx); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return nil, fmt.Errorf("scraping the controller's metrics: %w", errors.Join(errs...))
}

func (s *scraper) get(ctx context.Context, url string) (samples, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", url, err)
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	out, err := parseText(resp.Body)
	return out, resp.StatusCode, err
}

// metricsReader names the service account and role the scraper uses when
// the endpoint authenticates callers.
const metricsReader = "korvid-bench-metrics-reader"

func (s *scraper) fetchToken(ctx context.Context) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: metricsReader, Namespace: "default"}}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: metricsReader},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: metricsReader},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: metricsReader},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: metricsReader, Namespace: "default"}},
	}
	for _, o := range []client.Object{sa, role, binding} {
		if err := s.c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating the metrics reader %T: %w", o, err)
		}
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)}}
	if err := s.c.SubResource("token").Create(ctx, sa, tr); err != nil {
		return fmt.Errorf("requesting a metrics reader token: %w", err)
	}
	s.token = tr.Status.Token
	return nil
}

// procStats is what /proc says about a process.
type procStats struct {
	cpuSeconds float64
	peakRSSMiB float64
	// rssAnonMiB and rssFileMiB split the resident set now: anonymous
	// memory (heap, stacks) and pages of mapped files (the binary).
	rssAnonMiB, rssFileMiB float64
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times (100 on Linux).
const clockTicks = 100

func readProc(pid int) (procStats, error) {
	var st procStats
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, fmt.Errorf("reading /proc/%d/stat: %w", pid, err)
	}
	// The command name may hold spaces: fields count from after ")".
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(f) < 13 {
		return st, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return st, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	st.cpuSeconds = (utime + stime) / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, fmt.Errorf("reading /proc/%d/status: %w", pid, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		name, v, _ := strings.Cut(line, ":")
		var into *float64
		switch name {
		case "VmHWM":
			into = &st.peakRSSMiB
		case "RssAnon":
			into = &st.rssAnonMiB
		case "RssFile":
			into = &st.rssFileMiB
		default:
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			return st, fmt.Errorf("/proc/%d/status %s: %w", pid, name, err)
		}
		*into = kb / 1024
	}
	return st, nil
}

// apiServerMetrics reads the API server's own metrics through api, a REST
// client with the cluster's admin credentials.
func apiServerMetrics(ctx context.Context, api rest.Interface) (samples, error) {
	raw, err := api.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("GET the API server's /metrics: %w", err)
	}
	return parseText(bytes.NewReader(raw))
}

// webhookCalls are the calls the API server made to the webhooks named
// in hooks between two of its scrapes, and the mean time it waited for one.
func webhookCalls(before, after samples, hooks ...string) (calls float64, mean time.Duration) {
	const family = "apiserver_admission_webhook_admission_duration_seconds"
	var secs float64
	for _, h := range hooks {
		match := map[string]string{"name": h}
		calls += after.sum(family+"_count", match) - before.sum(family+"_count", match)
		secs += after.sum(family+"_sum", match) - before.sum(family+"_sum", match)
	}
	if calls == 0 {
		return 0, 0
	}
	return calls, time.Duration(secs / calls * float64(time.Second))
}
