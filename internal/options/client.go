package options

import (
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
)

// APIClient holds how a binary talks to the API server, shared by the
// webhook and the controller.
type APIClient struct {
	// ClientCompression asks the API server for gzip-compressed responses,
	// watch streams included. Off by default, as kube-controller-manager
	// and kube-scheduler have it: both binaries run next to the API server,
	// where compressing every watch event costs the API server and the
	// binary CPU and saves no time.
	ClientCompression bool
}

func (o *APIClient) addClientFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.ClientCompression, "client-compression", o.ClientCompression,
		"Ask the API server for gzip-compressed responses and watch streams (worth it only over a slow link to the API server).")
}

// ConfigureClient applies the options to the binary's client configuration.
func (o *APIClient) ConfigureClient(cfg *rest.Config) {
	cfg.DisableCompression = !o.ClientCompression
}
