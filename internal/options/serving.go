package options

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// DefaultMetricsBindAddress is where both binaries serve metrics: HTTPS,
// behind the API server's authentication and authorization.
const DefaultMetricsBindAddress = ":8443"

// Serving holds the options of a binary's metrics and health endpoints and of
// its HTTPS servers' protocol, shared by the webhook and the controller.
type Serving struct {
	// MetricsBindAddress is where the metrics endpoint listens; "0" disables it.
	MetricsBindAddress string
	// MetricsSecure serves metrics over HTTPS and lets only callers whose
	// bearer token the API server authenticates (TokenReview) and authorises
	// for "get" on the non-resource URL /metrics (SubjectAccessReview) read
	// them. Turning it off is allowed only on a loopback address.
	MetricsSecure bool
	// MetricsCertDir holds tls.crt and tls.key for the metrics endpoint;
	// empty (or missing files) means a self-signed certificate.
	MetricsCertDir string
	// EnableHTTP2 lets the HTTPS servers negotiate HTTP/2. Off by default:
	// HTTP/2 stream handling is exposed to the rapid-reset (CVE-2023-44487)
	// and stream-cancellation (CVE-2023-39325) attacks, so the servers speak
	// HTTP/1.1 only unless asked otherwise.
	EnableHTTP2 bool
	// HealthProbeBindAddress is where /healthz and /readyz listen.
	HealthProbeBindAddress string
}

func newServing() Serving {
	return Serving{MetricsBindAddress: DefaultMetricsBindAddress, MetricsSecure: true, HealthProbeBindAddress: ":8081"}
}

func (o *Serving) addFlags(fs *pflag.FlagSet, http2Usage string) {
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", o.MetricsBindAddress, "Address the Prometheus metrics endpoint binds to; \"0\" disables it.")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", o.MetricsSecure,
		"Serve metrics over HTTPS to callers whose bearer token may \"get\" the non-resource URL /metrics (TokenReview and SubjectAccessReview). Plain HTTP (false) is allowed only on a loopback address.")
	fs.StringVar(&o.MetricsCertDir, "metrics-cert-dir", o.MetricsCertDir,
		"Directory holding tls.crt and tls.key for the metrics endpoint; without it a self-signed certificate is generated.")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", o.EnableHTTP2, http2Usage)
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", o.HealthProbeBindAddress, "Address the /healthz and /readyz endpoints bind to.")
}

func (o *Serving) validate() error {
	var errs []error
	addr := o.MetricsBindAddress
	if addr == "" {
		errs = append(errs, errors.New(`--metrics-bind-address is required ("0" disables metrics)`))
	}
	if addr != "" && addr != "0" {
		host, _, err := net.SplitHostPort(addr)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("--metrics-bind-address: %w", err))
		case !o.MetricsSecure && !isLoopback(host):
			errs = append(errs, fmt.Errorf("--metrics-secure=false serves metrics without authentication; it is allowed only on a loopback address, not %q", addr))
		}
	}
	if o.MetricsCertDir != "" && !o.MetricsSecure {
		errs = append(errs, errors.New("--metrics-cert-dir needs --metrics-secure"))
	}
	return errors.Join(errs...)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TLSOptions returns the settings of korvid's HTTPS servers: TLS 1.2 or
// newer, and HTTP/1.1 only unless --enable-http2.
func (o *Serving) TLSOptions() []func(*tls.Config) {
	opts := []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 }}
	if !o.EnableHTTP2 {
		opts = append(opts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	return opts
}

// MetricsServerOptions returns the metrics server of a manager: with
// --metrics-secure, HTTPS behind controller-runtime's authentication and
// authorization filter.
func (o *Serving) MetricsServerOptions() metricsserver.Options {
	m := metricsserver.Options{BindAddress: o.MetricsBindAddress}
	if o.MetricsSecure {
		m.SecureServing = true
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
		m.CertDir = o.MetricsCertDir
		m.TLSOpts = o.TLSOptions()
	}
	return m
}
