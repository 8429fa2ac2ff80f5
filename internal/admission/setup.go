package admission

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph/resolver"
	"github.com/korvid/korvid/internal/options"
	"github.com/korvid/korvid/internal/registry"
	"github.com/korvid/korvid/internal/trust"
	"github.com/korvid/korvid/internal/webhookrules"
)

// Paths of the RGD webhooks (see the kubebuilder markers in rgd.go).
const (
	RGDValidatePath = "/validate-kro-run-v1alpha1-resourcegraphdefinition"
	RGDMutatePath   = "/mutate-kro-run-v1alpha1-resourcegraphdefinition"
)

// accessCacheTTL is how long an allowed SubjectAccessReview answer is reused.
const accessCacheTTL = 10 * time.Second

// ManagerOptions returns the manager options of the webhook binary: the
// webhook server on --port with the certificate from --cert-dir (reloaded
// when the files change), TLS 1.2 or newer and HTTP/1.1 only unless
// --enable-http2; metrics over HTTPS behind the API server's authentication
// and authorization unless --metrics-secure=false; probes. No leader
// election: every replica serves.
func ManagerOptions(o *options.Webhook, scheme *runtime.Scheme) manager.Options {
	return manager.Options{
		Scheme:                 scheme,
		Metrics:                o.MetricsServerOptions(),
		HealthProbeBindAddress: o.HealthProbeBindAddress,
		WebhookServer: webhook.NewServer(webhook.Options{
			Port: o.Port, CertDir: o.CertDir, CertName: o.CertName, KeyName: o.KeyName,
			TLSOpts: o.TLSOptions(),
		}),
	}
}

// Server is the wired webhook; Setup returns nothing of it, the tests of this
// package look inside.
type Server struct {
	Registry  *registry.Registry
	Validator *RGDValidator
	Rules     *webhookrules.RuleSyncer
	Resolver  *resolver.Live
	// Signer signs the author records of RGDs; its key is loaded while
	// warming up.
	Signer *trust.Signer

	trust *options.Trust

	mgr  manager.Manager
	warm atomic.Bool
}

// Setup registers the RGD and instance webhooks, the instance rule syncer,
// the schema cache warm-up and the health checks with mgr.
func Setup(mgr manager.Manager, opts *options.Webhook) error {
	_, err := setup(mgr, opts)
	return err
}

func setup(mgr manager.Manager, opts *options.Webhook) (*Server, error) {
	if opts == nil || opts.Graph == nil {
		return nil, errors.New("webhook options are required")
	}
	m := DefaultMetrics()
	cfg := mgr.GetConfig()
	live, disc, err := resolver.ForServer(cfg)
	if err != nil {
		return nil, err
	}
	to := opts.Trust
	if to == nil {
		to = options.NewTrust()
	}
	var policy *trust.Policy
	if to.PolicyFile != "" {
		if policy, err = trust.LoadPolicy(to.PolicyFile); err != nil {
			return nil, err
		}
	}
	direct, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return nil, fmt.Errorf("building the client: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.ResourceGraphDefinition{}, registry.KindIndex, registry.IndexByKind); err != nil {
		return nil, fmt.Errorf("indexing ResourceGraphDefinitions by kind: %w", err)
	}
	graphOpts := opts.Graph.Options()
	reg := registry.New(live, graphOpts, mgr.GetClient(), m.GraphCache)
	checker := &trust.Checker{Resolver: live, Policy: policy}
	s := &Server{
		Registry: reg,
		Resolver: live,
		Signer:   trust.NewSigner(nil),
		trust:    to,
		mgr:      mgr,
		Validator: &RGDValidator{
			Registry: reg, MaxCollectionSize: graphOpts.MaxCollectionSize,
			Cluster: mgr.GetClient(), Instances: mgr.GetAPIReader(), Discovery: trust.WithAggregatedDiscovery(disc), Trust: checker,
		},
		Rules: &webhookrules.RuleSyncer{
			Client: direct, RGDs: mgr.GetClient(), Registry: reg, Syncs: m.RuleSyncs,
			Validating: opts.InstanceValidatingWebhookConfiguration, Mutating: opts.InstanceMutatingWebhookConfiguration,
		},
	}
	defaulter := &RGDDefaulter{ControllerUsername: to.ControllerUsername}
	if to.AccessReview {
		checker.Authorizer = trust.NewCachingAuthorizer(trust.SARAuthorizer{Client: direct}, accessCacheTTL, 10000)
		defaulter.Signer = s.Signer
	}

	const rgdKind = "ResourceGraphDefinition"
	srv := mgr.GetWebhookServer()
	vwh := admission.WithValidator(mgr.GetScheme(), s.Validator)
	srv.Register(RGDValidatePath, newReviewServer(guard(m, rgdKind, DefaultHandlerTimeout, vwh.Handler)))
	srv.Register(RGDMutatePath, newReviewServer(guard(m, rgdKind, DefaultHandlerTimeout, defaulter)))
	srv.Register(InstanceValidatePath, newReviewServer(guard(m, "", DefaultHandlerTimeout, &InstanceValidator{Registry: reg, ControllerUsername: to.ControllerUsername})))
	srv.Register(InstanceMutatePath, newReviewServer(guard(m, "", DefaultHandlerTimeout, &InstanceDefaulter{Registry: reg})))

	if err := s.Rules.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the instance webhook rules: %w", err)
	}
	if err := mgr.Add(s); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("schema-cache", s.ready); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("webhook-tls", srv.StartedChecker()); err != nil {
		return nil, err
	}
	return s, nil
}

// loadSigningKey waits for the controller to create the signing key.
func (s *Server) loadSigningKey(ctx context.Context) error {
	key, err := s.trust.SigningKey()
	if err != nil {
		return err
	}
	logger := log.FromContext(ctx).WithName("warmup")
	return wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
		k, err := trust.LoadSigningKey(ctx, s.mgr.GetAPIReader(), key)
		if err != nil {
			logger.Info("Waiting for the signing key of author records", "secret", key.String(), "reason", err.Error())
			return false, nil
		}
		s.Signer.SetKey(k)
		return true, nil
	})
}

func (s *Server) ready(*http.Request) error {
	if !s.warm.Load() {
		return errors.New("the schema cache is not warm yet")
	}
	return nil
}

// NeedLeaderElection: every replica warms its own caches.
func (s *Server) NeedLeaderElection() bool { return false }

// Start warms the caches: it watches CRDs (keeping the schema resolver
// current; the rule controller drops compiled graphs when a CRD changes),
// waits for the informers admission reads from, loads the signing key and
// resolves the most used built-in kinds. Then the server reports ready.
func (s *Server) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("warmup")
	start := time.Now()
	c := s.mgr.GetCache()
	// The rule syncer's CustomResourceDefinition informer also keeps the
	// schema resolver current: one CRD informer per binary.
	inf, err := c.GetInformer(ctx, &extv1.CustomResourceDefinition{})
	if err == nil {
		_, err = inf.AddEventHandler(s.Resolver.CRDEventHandler())
	}
	if err != nil {
		return fmt.Errorf("watching CustomResourceDefinitions: %w", err)
	}
	if !c.WaitForCacheSync(ctx) {
		return errors.New("the informer caches did not sync")
	}
	if s.trust.AccessReview {
		if err := s.loadSigningKey(ctx); err != nil {
			return err
		}
	}
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Service"}, {Group: "apps", Version: "v1", Kind: "Deployment"},
	} {
		if _, err := s.Resolver.Resolve(gvk); err != nil {
			logger.Error(err, "Resolving a built-in kind failed", "kind", gvk.String())
		}
	}
	s.warm.Store(true)
	logger.Info("Schema cache warm", "took", time.Since(start).String())
	<-ctx.Done()
	return nil
}
