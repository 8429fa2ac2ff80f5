package admission

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics are the webhook's own Prometheus metrics, next to
// controller-runtime's webhook metrics.
type Metrics struct {
	// Latency is the handling time of one admission request by kind,
	// operation and outcome (allowed, denied, error).
	Latency *prometheus.HistogramVec
	// GraphCache counts compiled-graph lookups by result (hit, miss).
	GraphCache *prometheus.CounterVec
	// RuleSyncs counts updates of the instance webhook configurations by result.
	RuleSyncs *prometheus.CounterVec
}

var (
	metricsOnce sync.Once
	metrics     *Metrics
)

// DefaultMetrics returns the metrics registered with controller-runtime's
// registry (served on the manager's metrics endpoint).
func DefaultMetrics() *Metrics {
	metricsOnce.Do(func() {
		metrics = NewMetrics()
		crmetrics.Registry.MustRegister(metrics.Latency, metrics.GraphCache, metrics.RuleSyncs)
	})
	return metrics
}

// NewMetrics returns unregistered metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "korvid_admission_duration_seconds",
			Help:    "Time to handle one admission request, by kind, operation and outcome.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"kind", "operation", "outcome"}),
		GraphCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "korvid_admission_graph_cache_total",
			Help: "Lookups of compiled graphs by instance admission, by result (hit or miss).",
		}, []string{"result"}),
		RuleSyncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "korvid_admission_instance_rule_syncs_total",
			Help: "Updates of the instance webhook configurations' rules, by result.",
		}, []string{"result"}),
	}
}
