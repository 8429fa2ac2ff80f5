package options

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
)

// TestClientCompression checks what a client built from the binaries'
// configuration asks the API server for: uncompressed responses by
// default, gzip with --client-compression.
func TestClientCompression(t *testing.T) {
	var got string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Accept-Encoding")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)

	acceptEncoding := func(t *testing.T, args ...string) string {
		t.Helper()
		o := NewController()
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		o.AddFlags(fs)
		require.NoError(t, fs.Parse(args))
		// Over TLS, as the binaries always talk to the API server.
		ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
		o.ConfigureClient(cfg)
		hc, err := rest.HTTPClientFor(cfg)
		require.NoError(t, err)
		got = "unset"
		resp, err := hc.Get(srv.URL + "/api")
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return got
	}
	require.Empty(t, acceptEncoding(t), "no compression is asked for by default")
	require.Equal(t, "gzip", acceptEncoding(t, "--client-compression"))

	w := NewWebhook()
	fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
	w.AddFlags(fs)
	require.NoError(t, fs.Parse([]string{"--client-compression"}))
	require.True(t, w.ClientCompression, "the webhook takes the flag too")
}
