package options

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWebhookFlags(t *testing.T) {
	o := NewWebhook()
	fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
	o.AddFlags(fs)
	// The deploy manifests and `make run` use exactly these names and defaults.
	for name, def := range map[string]string{
		"cert-dir": "/tmp/k8s-webhook-server/serving-certs", "cert-name": "tls.crt", "key-name": "tls.key", "port": "9443",
		"metrics-bind-address": ":8080", "health-probe-bind-address": ":8081",
		"instance-validating-webhook-configuration": "korvid-instance-validation",
		"instance-mutating-webhook-configuration":   "korvid-instance-defaulting",
		"access-review": "true", "policy-file": "", "max-collection-size": "1000",
		"signing-key-secret":  "korvid-system/korvid-author-signing-key",
		"controller-username": "system:serviceaccount:korvid-system:korvid-controller",
	} {
		f := fs.Lookup(name)
		require.NotNil(t, f, "--%s", name)
		assert.Equal(t, def, f.DefValue, "--%s", name)
	}
	require.NoError(t, fs.Parse([]string{"--access-review=false", "--port=10250", "--max-collection-size=50"}))
	assert.False(t, o.Trust.AccessReview)
	assert.Equal(t, 10250, o.Port)
	assert.Equal(t, 50, o.Graph.Options().MaxCollectionSize)
	require.NoError(t, o.Validate())
}

func TestWebhookValidate(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(policy, []byte("forbidden: []\n"), 0o600))
	tests := []struct {
		name   string
		mutate func(*Webhook)
		want   string
	}{
		{name: "defaults", mutate: func(*Webhook) {}},
		{name: "existing policy file", mutate: func(o *Webhook) { o.Trust.PolicyFile = policy }},
		{name: "missing policy file", mutate: func(o *Webhook) { o.Trust.PolicyFile = policy + ".missing" }, want: "--policy-file"},
		{name: "bad signing key secret", mutate: func(o *Webhook) { o.Trust.SigningKeySecret = "no-namespace" }, want: "--signing-key-secret"},
		{name: "no signing key needed without access review", mutate: func(o *Webhook) { o.Trust.AccessReview = false; o.Trust.SigningKeySecret = "" }},
		{name: "port out of range", mutate: func(o *Webhook) { o.Port = 70000 }, want: "--port"},
		{name: "no cert dir", mutate: func(o *Webhook) { o.CertDir = "" }, want: "--cert-dir"},
		{name: "no configuration name", mutate: func(o *Webhook) { o.InstanceMutatingWebhookConfiguration = "" }, want: "--instance-validating-webhook-configuration"},
		{name: "bad compile option", mutate: func(o *Webhook) { o.Graph.MaxCollectionSize = 0 }, want: "--max-collection-size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewWebhook()
			tt.mutate(o)
			err := o.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
