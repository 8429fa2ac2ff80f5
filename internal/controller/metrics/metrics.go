// Package metrics holds the Prometheus metrics of korvid's controller, in
// one struct registered once with controller-runtime's registry (served on
// the manager's metrics endpoint next to controller-runtime's own metrics).
package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics are the controller's own metrics, all prefixed korvid_. Reconcile
// counts, errors and latency are controller-runtime's own, per controller
// (controller_runtime_reconcile_total, _errors_total, _time_seconds; the
// instance controllers are named instance-<Kind>.<group>).
type Metrics struct {
	// Applies counts server-side applies of children per instance kind and result.
	Applies *prometheus.CounterVec
	// Deletes counts deletions of children (prune and instance deletion) per instance kind.
	Deletes *prometheus.CounterVec
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
			Applies: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "korvid_child_applies_total",
				Help: "Server-side applies of child objects, per instance kind and result.",
			}, []string{"kind", "result"}),
			Deletes: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "korvid_child_deletes_total",
				Help: "Deletions of child objects (pruning and instance deletion), per instance kind.",
			}, []string{"kind"}),
			InstanceControllers: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "korvid_instance_controllers",
				Help: "Number of running instance controllers (one per active generated kind).",
			}),
		}
		ctrlmetrics.Registry.MustRegister(metrics.Applies, metrics.Deletes, metrics.InstanceControllers)
	})
	return metrics
}
