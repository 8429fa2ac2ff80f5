// Package metrics holds the Prometheus metrics of korvid's controller, in
// one struct registered once with controller-runtime's registry (served on
// the manager's metrics endpoint next to controller-runtime's own metrics).
package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics are the controller's own metrics, all prefixed korvid_.
type Metrics struct {
	// ReconcileDuration observes instance reconcile latency per instance kind.
	ReconcileDuration *prometheus.HistogramVec
	// Applies counts server-side applies of children per instance kind and result.
	Applies *prometheus.CounterVec
	// Deletes counts deletions of children (prune and instance deletion) per instance kind.
	Deletes *prometheus.CounterVec
	// Errors counts failed reconciles per controller (rgd, instance) and kind.
	Errors *prometheus.CounterVec
	// InstanceControllers is the number of running instance controllers.
	InstanceControllers prometheus.Gauge
}

var (
	once    sync.Once
	metrics *Metrics
)

// Get returns the process-wide metrics, registering them on first use.
func Get() *Metrics {
	once.Do(func() {
		metrics = &Metrics{
			ReconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "korvid_instance_reconcile_duration_seconds",
				Help:    "Duration of instance reconciles, per instance kind.",
				Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
			}, []string{"kind"}),
			Applies: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "korvid_child_applies_total",
				Help: "Server-side applies of child objects, per instance kind and result.",
			}, []string{"kind", "result"}),
			Deletes: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "korvid_child_deletes_total",
				Help: "Deletions of child objects (pruning and instance deletion), per instance kind.",
			}, []string{"kind"}),
			Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "korvid_reconcile_errors_total",
				Help: "Reconciles that ended in an error, per controller and kind.",
			}, []string{"controller", "kind"}),
			InstanceControllers: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "korvid_instance_controllers",
				Help: "Number of running instance controllers (one per active generated kind).",
			}),
		}
		ctrlmetrics.Registry.MustRegister(metrics.ReconcileDuration, metrics.Applies, metrics.Deletes, metrics.Errors, metrics.InstanceControllers)
	})
	return metrics
}
