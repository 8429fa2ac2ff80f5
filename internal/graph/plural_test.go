package graph

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The generated CRD's name is part of the contract with kro: the same RGD
// must serve its instances under the same resource name.
func TestPluralizeMatchesKro(t *testing.T) {
	for kind, want := range map[string]string{
		"WebApp":         "webapps",
		"Environments":   "environments",
		"Policy":         "policies",
		"Ingress":        "ingresses",
		"Gateway":        "gateways",
		"Box":            "boxes",
		"EnvironmentSet": "environmentsets",
		"Database":       "databases",
	} {
		assert.Equal(t, want, pluralize(kind), kind)
	}
}
