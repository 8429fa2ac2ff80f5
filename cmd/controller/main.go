// Command controller runs korvid's controller: it reconciles
// ResourceGraphDefinitions into CRDs and instance controllers.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/korvid/korvid/internal/controller"
	"github.com/korvid/korvid/internal/options"
	korvidscheme "github.com/korvid/korvid/internal/scheme"
	"github.com/korvid/korvid/internal/version"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run() error {
	co, gopts, to := options.NewController(), options.NewGraph(), options.NewTrust()
	zo := zap.Options{}
	fs := pflag.NewFlagSet("controller", pflag.ExitOnError)
	co.AddFlags(fs)
	gopts.AddFlags(fs)
	to.AddFlags(fs)
	logFlags := flag.NewFlagSet("logging", flag.ExitOnError)
	zo.BindFlags(logFlags)
	fs.AddGoFlagSet(logFlags)
	// --kubeconfig is registered by controller-runtime on the Go flag set.
	fs.AddGoFlagSet(flag.CommandLine)
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	if err := errors.Join(co.Validate(), gopts.Validate(), to.Validate()); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))

	scheme := korvidscheme.New()
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = co.ClientQPS, co.ClientBurst
	co.ConfigureClient(cfg)
	mgr, err := ctrl.NewManager(cfg, controller.ManagerOptions(co, scheme))
	if err != nil {
		return fmt.Errorf("building manager: %w", err)
	}
	if _, err := controller.Setup(mgr, controller.Options{Controller: *co, Graph: gopts.Options(), Trust: to}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("Starting the controller", "version", version.Version)
	return mgr.Start(ctrl.SetupSignalHandler())
}
