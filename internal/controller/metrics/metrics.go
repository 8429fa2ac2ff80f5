// Package metrics holds the Prometheus metrics of korvid's controller. They
// are registered with controller-runtime's registry when the package is
// loaded, as controller-runtime registers its own, and are served on the
// manager's metrics endpoint next to them.
//
// Reconcile counts, errors and latency are controller-runtime's own, per
// controller (controller_runtime_reconcile_total, _errors_total,
// _time_seconds; the instance controllers are named instance-<Kind>.<group>).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// Applies counts server-side applies of children per instance kind and result.
	Applies = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "korvid_child_applies_total",
		Help: "Server-side applies of child objects, per instance kind and result.",
	}, []string{"kind", "result"})

	// Deletes counts deletions of children (prune and instance deletion) per instance kind.
	Deletes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "korvid_child_deletes_total",
		Help: "Deletions of child objects (pruning and instance deletion), per instance kind.",
	}, []string{"kind"})

	// InstanceControllers is the number of running instance controllers.
	InstanceControllers = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "korvid_instance_controllers",
		Help: "Number of running instance controllers (one per active generated kind).",
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(Applies, Deletes, InstanceControllers)
}
