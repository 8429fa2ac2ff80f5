// Command webhook serves korvid's admission webhooks: it validates and
// defaults ResourceGraphDefinitions and the instances of the kinds they
// generate, and keeps the instance webhook rules in step with the RGDs.
package main

import (
	goflag "flag"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/korvid/korvid/internal/admission"
	"github.com/korvid/korvid/internal/options"
	korvidscheme "github.com/korvid/korvid/internal/scheme"
	"github.com/korvid/korvid/internal/version"
)

func main() {
	opts := options.NewWebhook()
	opts.AddFlags(pflag.CommandLine)
	zapOpts := zap.Options{}
	goflags := goflag.NewFlagSet("log", goflag.ExitOnError)
	zapOpts.BindFlags(goflags)
	// --kubeconfig is registered by controller-runtime on the Go flag set.
	goflag.CommandLine.VisitAll(func(f *goflag.Flag) { goflags.Var(f.Value, f.Name, f.Usage) })
	pflag.CommandLine.AddGoFlagSet(goflags)
	pflag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	if err := opts.Validate(); err != nil {
		fail(err)
	}
	scheme := korvidscheme.New()
	cfg, err := ctrl.GetConfig()
	if err != nil {
		fail(fmt.Errorf("loading the kubeconfig: %w", err))
	}
	opts.ConfigureClient(cfg)
	mgr, err := ctrl.NewManager(cfg, admission.ManagerOptions(opts, scheme))
	if err != nil {
		fail(fmt.Errorf("building the manager: %w", err))
	}
	if err := admission.Setup(mgr, opts); err != nil {
		fail(err)
	}
	log.Info("Starting the webhook server", "version", version.Version, "port", opts.Port, "certDir", opts.CertDir)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}
