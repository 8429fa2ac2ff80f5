// Command controller runs korvid's controller: it reconciles
// ResourceGraphDefinitions into CRDs and instance controllers.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/controller"
	"github.com/korvid/korvid/internal/options"
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

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, extv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = co.ClientQPS, co.ClientBurst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: co.MetricsBindAddress},
		HealthProbeBindAddress:  co.HealthProbeBindAddress,
		LeaderElection:          co.LeaderElect,
		LeaderElectionID:        "korvid-controller.kro.run",
		LeaderElectionNamespace: co.LeaderElectionNamespace,
	})
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
	return mgr.Start(ctrl.SetupSignalHandler())
}
