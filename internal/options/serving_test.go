package options

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// handshake serves HTTPS with the TLS options of o and connects with a
// client that offers h2 and http/1.1 in the given TLS version range.
func handshake(t *testing.T, o *Serving, minVersion, maxVersion uint16) (tls.ConnectionState, error) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.EnableHTTP2 = true
	// controller-runtime's webhook and metrics servers start from this
	// configuration and apply the options to it.
	srv.TLS = &tls.Config{NextProtos: []string{"h2"}} //nolint:gosec // MinVersion is what the options set
	for _, opt := range o.TLSOptions() {
		opt(srv.TLS)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // the test checks the protocol, not the certificate
		NextProtos:         []string{"h2", "http/1.1"},
		MinVersion:         minVersion,
		MaxVersion:         maxVersion,
	})
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.ConnectionState(), nil
}

func TestTLSOptions(t *testing.T) {
	t.Run("HTTP/2 is not negotiated by default", func(t *testing.T) {
		o := newServing()
		st, err := handshake(t, &o, tls.VersionTLS12, tls.VersionTLS13)
		require.NoError(t, err)
		assert.Equal(t, "http/1.1", st.NegotiatedProtocol)
	})
	t.Run("--enable-http2 negotiates h2", func(t *testing.T) {
		o := newServing()
		o.EnableHTTP2 = true
		st, err := handshake(t, &o, tls.VersionTLS12, tls.VersionTLS13)
		require.NoError(t, err)
		assert.Equal(t, "h2", st.NegotiatedProtocol)
	})
	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		o := newServing()
		_, err := handshake(t, &o, tls.VersionTLS10, tls.VersionTLS11)
		require.Error(t, err)
	})
	t.Run("TLS 1.2 is accepted", func(t *testing.T) {
		o := newServing()
		st, err := handshake(t, &o, tls.VersionTLS12, tls.VersionTLS12)
		require.NoError(t, err)
		assert.Equal(t, uint16(tls.VersionTLS12), st.Version)
	})
}

func TestMetricsServerOptions(t *testing.T) {
	o := newServing()
	m := o.MetricsServerOptions()
	assert.True(t, m.SecureServing, "HTTPS by default")
	assert.NotNil(t, m.FilterProvider, "authentication and authorization by default")
	assert.Equal(t, DefaultMetricsBindAddress, m.BindAddress)

	o.MetricsSecure, o.MetricsBindAddress = false, "127.0.0.1:18080"
	m = o.MetricsServerOptions()
	assert.False(t, m.SecureServing)
	assert.Nil(t, m.FilterProvider)
}
