package options

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// Controller holds the options of the controller binary. The deploy
// manifests and `make run` use exactly these flag names.
type Controller struct {
	// Serving configures the metrics endpoint (HTTPS with authentication
	// and authorization by default) and the health endpoint.
	Serving
	// PprofBindAddress serves net/http/pprof when set; empty disables it.
	PprofBindAddress        string
	LeaderElect             bool
	LeaderElectionNamespace string
	// AllowCRDDeletion deletes a generated CRD (and with it every instance)
	// when its RGD is deleted. Off by default: the CRD is kept.
	AllowCRDDeletion bool
	// MaxConcurrentReconciles is the number of workers per instance kind.
	MaxConcurrentReconciles int
	// RGDConcurrentReconciles is the number of workers of the RGD controller.
	RGDConcurrentReconciles int
	ClientQPS               float32
	ClientBurst             int
	APIClient
	// GraphRevisionsToKeep is how many compiled revisions of an RGD are kept.
	GraphRevisionsToKeep int
	// MaxObjectsPerInstance caps the objects one instance may render across
	// all its resources (collections included).
	MaxObjectsPerInstance int
	// InformerSyncTimeout is how long the informer of a child kind may take
	// to sync before it is stopped and the kind reported on the RGD.
	InformerSyncTimeout time.Duration
}

// NewController returns the defaults, sized for hundreds of instances.
func NewController() *Controller {
	return &Controller{
		Serving:                 newServing(),
		MaxConcurrentReconciles: 16,
		RGDConcurrentReconciles: 4,
		ClientQPS:               100,
		ClientBurst:             200,
		GraphRevisionsToKeep:    5,
		MaxObjectsPerInstance:   2000,
		InformerSyncTimeout:     30 * time.Second,
	}
}

// AddFlags registers the options.
func (o *Controller) AddFlags(fs *pflag.FlagSet) {
	o.addFlags(fs, "Let the metrics server negotiate HTTP/2 (off: HTTP/1.1 only, against HTTP/2 rapid-reset attacks).")
	fs.StringVar(&o.PprofBindAddress, "pprof-bind-address", o.PprofBindAddress, "Address net/http/pprof binds to, for profiling (empty disables it).")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Elect a leader so that only one replica reconciles at a time.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace, "Namespace of the leader election lease (default: the pod's namespace).")
	fs.BoolVar(&o.AllowCRDDeletion, "allow-crd-deletion", o.AllowCRDDeletion, "Delete the generated CRD, and with it every instance, when its ResourceGraphDefinition is deleted.")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", o.MaxConcurrentReconciles, "Number of concurrent instance reconciles per generated kind.")
	fs.IntVar(&o.RGDConcurrentReconciles, "rgd-concurrent-reconciles", o.RGDConcurrentReconciles, "Number of concurrent ResourceGraphDefinition reconciles.")
	fs.Float32Var(&o.ClientQPS, "client-qps", o.ClientQPS, "Queries per second the controller may send to the API server.")
	fs.IntVar(&o.ClientBurst, "client-burst", o.ClientBurst, "Burst of queries above --client-qps.")
	o.addClientFlags(fs)
	fs.IntVar(&o.MaxObjectsPerInstance, "max-objects-per-instance", o.MaxObjectsPerInstance, "Maximum number of objects one instance may render across all its resources; an instance above it is not applied and reports why.")
	fs.DurationVar(&o.InformerSyncTimeout, "informer-sync-timeout", o.InformerSyncTimeout, "How long the informer of a child or external kind may take to sync before it is stopped and the kind reported on the ResourceGraphDefinition.")
	fs.IntVar(&o.GraphRevisionsToKeep, "graph-revisions-to-keep", o.GraphRevisionsToKeep, "Number of compiled graph revisions kept per ResourceGraphDefinition.")
}

// Validate checks the options.
func (o *Controller) Validate() error {
	var errs []error
	if err := o.validate(); err != nil {
		errs = append(errs, err)
	}
	for _, p := range []struct {
		flag     string
		positive bool
	}{
		{"max-concurrent-reconciles", o.MaxConcurrentReconciles > 0},
		{"informer-sync-timeout", o.InformerSyncTimeout > 0},
		{"max-objects-per-instance", o.MaxObjectsPerInstance > 0},
		{"rgd-concurrent-reconciles", o.RGDConcurrentReconciles > 0},
		{"client-qps", o.ClientQPS > 0},
		{"graph-revisions-to-keep", o.GraphRevisionsToKeep > 0},
	} {
		if !p.positive {
			errs = append(errs, fmt.Errorf("--%s must be positive", p.flag))
		}
	}
	if o.ClientBurst < int(o.ClientQPS) {
		errs = append(errs, errors.New("--client-burst must be at least --client-qps"))
	}
	return errors.Join(errs...)
}
