package admission

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// The rendered names and namespaces of every object are checked on every
// instance admission. apimachinery's checks match them with a regular
// expression, which cost about as much as decoding the instance; these
// loops answer the common case, a valid name, and the caller asks the
// library only for a name they refuse, so the errors are its own. They
// must never accept what the library refuses (TestFastNamesAgreeWithTheLibrary).

// plainDNSLabel reports whether s is a DNS-1123 label
// (validation.IsDNS1123Label): at most 63 characters of lower-case letters,
// digits and '-', starting and ending with a letter or a digit.
func plainDNSLabel(s string) bool {
	return len(s) <= validation.DNS1123LabelMaxLength && labelChars(s)
}

// plainDNSSubdomain reports whether s is a DNS-1123 subdomain
// (validation.IsDNS1123Subdomain): at most 253 characters of labels, each
// of any length, joined by '.'.
func plainDNSSubdomain(s string) bool {
	if len(s) > validation.DNS1123SubdomainMaxLength {
		return false
	}
	for part := range strings.SplitSeq(s, ".") {
		if !labelChars(part) {
			return false
		}
	}
	return true
}

// labelChars reports whether s is one label of lower-case letters, digits
// and inner '-', without a length limit.
func labelChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}
