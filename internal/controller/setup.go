// Package controller wires korvid's reconcilers into a controller-runtime
// manager: the ResourceGraphDefinition reconciler (compile, CRD, status,
// instance controllers) and the dynamic instance controllers, sharing one
// live schema resolver. cmd/controller and the envtest suites both call
// Setup, so tests exercise the production wiring.
package controller

import (
	"context"
	"fmt"

	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	revisions "github.com/korvid/korvid/api/revisions/v1alpha1"
	"github.com/korvid/korvid/internal/controller/instance"
	"github.com/korvid/korvid/internal/controller/metrics"
	"github.com/korvid/korvid/internal/controller/rgd"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/resolver"
	"github.com/korvid/korvid/internal/options"
)

// Options configure Setup.
type Options struct {
	Controller options.Controller
	Graph      graph.Options
}

// Setup registers the RGD reconciler, the instance controllers and the
// schema resolver's CRD watch with the manager. The manager's scheme must
// hold korvid's API and apiextensions/v1; Setup adds GraphRevisions to it.
func Setup(mgr manager.Manager, o Options) (*instance.Controllers, error) {
	// GraphRevisions are korvid's own bookkeeping: register them here so
	// that every caller's scheme holds them.
	if err := revisions.AddToScheme(mgr.GetScheme()); err != nil {
		return nil, fmt.Errorf("registering GraphRevisions: %w", err)
	}
	cfg := mgr.GetConfig()
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building discovery client: %w", err)
	}
	live := resolver.NewLive(disc)
	ext, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building apiextensions client: %w", err)
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if err := live.WatchCRDs(ctx, ext); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	})); err != nil {
		return nil, fmt.Errorf("adding the CRD watch of the schema resolver: %w", err)
	}
	metrics.Get()
	instances, err := instance.New(mgr, instance.Options{
		MaxConcurrentReconciles: o.Controller.MaxConcurrentReconciles,
		MaxObjectsPerInstance:   o.Controller.MaxObjectsPerInstance,
	})
	if err != nil {
		return nil, err
	}
	r := &rgd.Reconciler{
		Client:                  mgr.GetClient(),
		Reader:                  mgr.GetAPIReader(),
		Resolver:                live,
		GraphOptions:            o.Graph,
		Instances:               instances,
		AllowCRDDeletion:        o.Controller.AllowCRDDeletion,
		RevisionsToKeep:         o.Controller.GraphRevisionsToKeep,
		MaxConcurrentReconciles: o.Controller.RGDConcurrentReconciles,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the ResourceGraphDefinition controller: %w", err)
	}
	return instances, nil
}
