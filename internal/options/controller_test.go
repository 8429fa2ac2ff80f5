package options

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

func TestControllerFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, o *Controller)
	}{
		{name: "defaults", check: func(t *testing.T, o *Controller) {
			require.Equal(t, ":8443", o.MetricsBindAddress)
			require.True(t, o.MetricsSecure, "metrics are served over HTTPS behind authentication by default")
			require.False(t, o.EnableHTTP2)
			require.Equal(t, ":8081", o.HealthProbeBindAddress)
			require.Equal(t, 16, o.MaxConcurrentReconciles)
			require.Equal(t, 5, o.GraphRevisionsToKeep)
			require.False(t, o.AllowCRDDeletion)
			require.Empty(t, o.PprofBindAddress, "profiling is off unless asked for")
			require.False(t, o.ClientCompression, "responses are not compressed unless asked for")
		}},
		{name: "every flag", args: []string{"--metrics-bind-address=:9090", "--metrics-cert-dir=/certs", "--enable-http2", "--health-probe-bind-address=:9091", "--pprof-bind-address=127.0.0.1:6060", "--leader-elect",
			"--leader-election-namespace=korvid-system", "--allow-crd-deletion", "--max-concurrent-reconciles=32",
			"--rgd-concurrent-reconciles=2", "--client-qps=50", "--client-burst=100", "--graph-revisions-to-keep=3",
			"--max-objects-per-instance=500", "--informer-sync-timeout=10s", "--client-compression"},
			check: func(t *testing.T, o *Controller) {
				require.Equal(t, &Controller{Serving: Serving{MetricsBindAddress: ":9090", MetricsSecure: true, MetricsCertDir: "/certs", EnableHTTP2: true, HealthProbeBindAddress: ":9091"}, PprofBindAddress: "127.0.0.1:6060", LeaderElect: true,
					LeaderElectionNamespace: "korvid-system", AllowCRDDeletion: true, MaxConcurrentReconciles: 32,
					RGDConcurrentReconciles: 2, ClientQPS: 50, ClientBurst: 100, APIClient: APIClient{ClientCompression: true}, GraphRevisionsToKeep: 3,
					MaxObjectsPerInstance: 500, InformerSyncTimeout: 10 * time.Second}, o)
			}},
		{name: "plain HTTP metrics on loopback", args: []string{"--metrics-secure=false", "--metrics-bind-address=127.0.0.1:18080"},
			check: func(t *testing.T, o *Controller) { require.False(t, o.MetricsSecure) }},
		{name: "plain HTTP metrics on every interface", args: []string{"--metrics-secure=false", "--metrics-bind-address=:8080"}, wantErr: "--metrics-secure=false"},
		{name: "workers must be positive", args: []string{"--max-concurrent-reconciles=0"}, wantErr: "--max-concurrent-reconciles"},
		{name: "burst below qps", args: []string{"--client-qps=100", "--client-burst=10"}, wantErr: "--client-burst"},
		{name: "object cap must be positive", args: []string{"--max-objects-per-instance=0"}, wantErr: "--max-objects-per-instance"},
		{name: "revisions must be positive", args: []string{"--graph-revisions-to-keep=0"}, wantErr: "--graph-revisions-to-keep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewController()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.AddFlags(fs)
			require.NoError(t, fs.Parse(tt.args))
			err := o.Validate()
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, o)
		})
	}
}
