package admission

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/util/validation"
)

// namesToCheck are names on either side of every rule of DNS-1123 labels
// and subdomains.
var namesToCheck = []string{
	"", "a", "0", "-", ".", "a-b", "a--b", "-a", "a-", "A", "aB", "a_b", "a b", "é", "a\x00",
	"a.b", "a..b", ".a", "a.", "a.-b", "a-.b", "shop-eu.example.com", "web-1",
	strings.Repeat("a", 63), strings.Repeat("a", 64),
	strings.Repeat("a", 253), strings.Repeat("a", 254),
	strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 126) + "ab",
}

func TestFastNamesAgreeWithTheLibrary(t *testing.T) {
	for _, s := range namesToCheck {
		assert.Equal(t, len(validation.IsDNS1123Label(s)) == 0, plainDNSLabel(s), "label %q", s)
		assert.Equal(t, len(validation.IsDNS1123Subdomain(s)) == 0, plainDNSSubdomain(s), "subdomain %q", s)
	}
}

func FuzzFastNamesAgreeWithTheLibrary(f *testing.F) {
	for _, s := range namesToCheck {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := plainDNSLabel(s), len(validation.IsDNS1123Label(s)) == 0; got != want {
			t.Fatalf("label %q: fast check %v, library %v", s, got, want)
		}
		if got, want := plainDNSSubdomain(s), len(validation.IsDNS1123Subdomain(s)) == 0; got != want {
			t.Fatalf("subdomain %q: fast check %v, library %v", s, got, want)
		}
	})
}
