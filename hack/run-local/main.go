// Command run-local runs korvid on a containerless local cluster (see
// internal/localcluster) in the foreground until Ctrl-C or SIGTERM, then stops
// every process it started. `make run` builds what it needs and calls it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/korvid/korvid/internal/localcluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "run-local:", err)
		os.Exit(1)
	}
}

func run() error {
	var flags localcluster.Flags
	flags.AddFlags(flag.CommandLine, "bin/local")
	flag.Parse()
	opts, err := flags.Resolve()
	if err != nil {
		return err
	}
	opts.Logf = func(format string, args ...any) {
		fmt.Printf("%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cluster, err := localcluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Printf(`
korvid is running on a local cluster (%d fake nodes holding %d pods; logs in %s).

  export KUBECONFIG=%s
  kubectl get nodes
  kubectl apply -f examples/webapp/rgd.yaml
  kubectl get rgd webapp            # STATE Active
  kubectl apply -f examples/webapp/instance.yaml
  kubectl get webapp demo -w        # ACTIVE once the Deployment has ready replicas
  kubectl apply -f examples/broken/rgd.yaml   # denied by the webhook, with field paths

The controller's metrics (HTTPS; the admin's bearer token may read them):

  curl -sk -H "Authorization: Bearer $(cat %s)" %s

To try failures: kill -HUP %d restarts the controller, kill -USR1 %d stops
the webhook (and starts it again the next time).

Press Ctrl-C to stop everything.
`, opts.Nodes, opts.PodCapacity(), cluster.LogDir(), cluster.Kubeconfig, filepath.Join(opts.Dir, localcluster.AdminTokenFile), localcluster.ControllerMetricsURL(), os.Getpid(), os.Getpid())

	failure := serve(ctx, cluster)
	stop()
	if err := cluster.Stop(); err != nil {
		return err
	}
	return failure
}

// serve waits until the user stops the cluster (Ctrl-C) or a process dies,
// restarting the controller on SIGHUP and stopping or starting the webhook
// on SIGUSR1, so restarts and outages can be tried by hand.
func serve(ctx context.Context, cluster *localcluster.Cluster) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	for {
		select {
		case <-ctx.Done():
			fmt.Println("\nstopping")
			return nil
		case name := <-cluster.Exited():
			err := fmt.Errorf("%s exited unexpectedly; see %s", name, filepath.Join(cluster.LogDir(), name+".log"))
			fmt.Fprintln(os.Stderr, err)
			return err
		case sig := <-sigs:
			var err error
			switch {
			case sig == syscall.SIGHUP:
				fmt.Println("restarting the controller")
				cluster.StopController()
				err = cluster.StartController(ctx)
			case cluster.WebhookRunning():
				fmt.Println("stopping the webhook (kill -USR1 again starts it)")
				cluster.StopWebhook()
			default:
				fmt.Println("starting the webhook")
				err = cluster.StartWebhook(ctx)
			}
			if err != nil {
				return err
			}
		}
	}
}
