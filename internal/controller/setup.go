// Package controller wires korvid's reconcilers into a controller-runtime
// manager: the ResourceGraphDefinition reconciler (compile, CRD, status,
// instance controllers) and the dynamic instance controllers, sharing one
// live schema resolver. cmd/controller and the envtest suites both call
// Setup, so tests exercise the production wiring.
package controller

import (
	"context"
	"fmt"
	"time"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	revisions "github.com/korvid/korvid/api/revisions/v1alpha1"
	"github.com/korvid/korvid/internal/controller/instance"
	"github.com/korvid/korvid/internal/controller/rgd"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/resolver"
	"github.com/korvid/korvid/internal/options"
	"github.com/korvid/korvid/internal/trust"
)

// Options configure Setup.
type Options struct {
	Controller options.Controller
	Graph      graph.Options
	// Trust re-runs the webhook's trust checks; nil runs none (the suites
	// that test other concerns).
	Trust *options.Trust
}

// LeaderElectionID names the Lease the controller's replicas elect a leader
// with, in --leader-election-namespace.
const LeaderElectionID = "korvid-controller.kro.run"

// ManagerOptions returns the manager options of the controller binary:
// metrics over HTTPS behind the API server's authentication and
// authorization unless --metrics-secure=false (HTTP/1.1 only unless
// --enable-http2), probes and leader election on a Lease.
func ManagerOptions(o *options.Controller, scheme *runtime.Scheme) manager.Options {
	return manager.Options{
		Scheme:                  scheme,
		Metrics:                 o.MetricsServerOptions(),
		HealthProbeBindAddress:  o.HealthProbeBindAddress,
		PprofBindAddress:        o.PprofBindAddress,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		// Nothing korvid reads is in managedFields: the cache does not keep
		// them. One CRD informer, shared by the RGD controller and the
		// schema resolver, holds no schemas (SlimCRD keeps no managedFields).
		Cache: cache.Options{
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject: map[client.Object]cache.ByObject{
				&extv1.CustomResourceDefinition{}: {Transform: resolver.SlimCRD},
			},
		},
	}
}

// Setup registers the RGD reconciler, the instance controllers and the
// schema resolver's CRD watch with the manager. The manager's scheme must
// hold korvid's API, its GraphRevisions and apiextensions/v1, as the one
// internal/scheme.New builds does. Setup does not add them itself: a scheme
// must not be written once a manager or client of the process may read it.
func Setup(mgr manager.Manager, o Options) (*instance.Controllers, error) {
	if !mgr.GetScheme().IsVersionRegistered(revisions.GroupVersion) {
		return nil, fmt.Errorf("the manager's scheme does not hold %s (GraphRevisions); build it with internal/scheme.New", revisions.GroupVersion)
	}
	cfg := mgr.GetConfig()
	live, disc, err := resolver.ForServer(cfg)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		inf, err := mgr.GetCache().GetInformer(ctx, &extv1.CustomResourceDefinition{})
		if err == nil {
			_, err = inf.AddEventHandler(live.CRDEventHandler())
		}
		if err != nil {
			return fmt.Errorf("watching CustomResourceDefinitions: %w", err)
		}
		<-ctx.Done()
		return nil
	})); err != nil {
		return nil, fmt.Errorf("adding the CRD watch of the schema resolver: %w", err)
	}
	instances, err := instance.New(mgr, instance.Options{
		MaxConcurrentReconciles: o.Controller.MaxConcurrentReconciles,
		MaxObjectsPerInstance:   o.Controller.MaxObjectsPerInstance,
		InformerSyncTimeout:     o.Controller.InformerSyncTimeout,
	})
	if err != nil {
		return nil, err
	}
	checker, signer, err := setupTrust(mgr, o.Trust, live)
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
		Trust:                   checker,
		Signer:                  signer,
	}
	if checker != nil {
		r.Discovery = trust.WithAggregatedDiscovery(disc)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the ResourceGraphDefinition controller: %w", err)
	}
	return instances, nil
}

// setupTrust builds the checks the controller repeats after the webhook. With
// the access review on, the signing key of author records is read (and
// created when missing) before the controller starts: without it no RGD
// could be verified.
func setupTrust(mgr manager.Manager, o *options.Trust, res graph.SchemaResolver) (*trust.Checker, *trust.Signer, error) {
	if o == nil {
		return nil, nil, nil
	}
	checker := &trust.Checker{Resolver: res}
	if o.PolicyFile != "" {
		p, err := trust.LoadPolicy(o.PolicyFile)
		if err != nil {
			return nil, nil, err
		}
		checker.Policy = p
	}
	if !o.AccessReview {
		return checker, nil, nil
	}
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return nil, nil, fmt.Errorf("building the client: %w", err)
	}
	checker.Authorizer = trust.NewCachingAuthorizer(trust.SARAuthorizer{Client: direct}, accessCacheTTL, 10000)
	key, err := o.SigningKey()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := trust.EnsureSigningKey(ctx, direct, key)
	if err != nil {
		return nil, nil, err
	}
	return checker, trust.NewSigner(k), nil
}

// accessCacheTTL is how long an allowed SubjectAccessReview answer is reused.
const accessCacheTTL = 10 * time.Second
