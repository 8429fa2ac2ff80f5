// Package scheme builds the one runtime.Scheme both binaries, the local
// cluster and the integration suites decode and read with.
package scheme

import (
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	revisions "github.com/korvid/korvid/api/revisions/v1alpha1"
	"github.com/korvid/korvid/api/v1alpha1"
)

// New returns a scheme with the built-in kinds, CustomResourceDefinitions
// korvid's API (kro.run/v1alpha1) and its GraphRevisions. Everything is
// registered here, before any client or manager reads the scheme: a scheme
// is not safe to write to while it is in use.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, extv1.AddToScheme, v1alpha1.AddToScheme, revisions.AddToScheme} {
		if err := add(s); err != nil {
			panic(err) // only fails on programming errors in the registered types
		}
	}
	return s
}
