package localcluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// AdminTokenFile, under Options.Dir, holds the admin's bearer token. The
// korvid binaries serve metrics over HTTPS to callers whose bearer token the
// API server authenticates and authorises for "get" on /metrics; the admin's
// client certificate is not accepted there, its token is:
//
//	curl -sk -H "Authorization: Bearer $(cat bin/local/admin.token)" https://127.0.0.1:18080/metrics
const AdminTokenFile = "admin.token"

// ControllerMetricsURL is where the controller of a local cluster serves its
// metrics (HTTPS with a self-signed certificate).
func ControllerMetricsURL() string {
	return "https://127.0.0.1:" + strconv.Itoa(controllerMetricsPort) + "/metrics"
}

// ControllerMetrics reads the controller's metrics (Prometheus text format)
// with the admin's token.
func (c *Cluster) ControllerMetrics(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ControllerMetricsURL(), nil)
	if err != nil {
		return nil, fmt.Errorf("reading the controller's metrics: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.adminToken)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		// The metrics server's certificate is self-signed; the token, not
		// the certificate, is what this local reader relies on.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // self-signed, loopback only
	}}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the controller's metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the controller's metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading the controller's metrics: %s: %s", resp.Status, b)
	}
	return b, nil
}
