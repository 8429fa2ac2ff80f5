// Package scheme builds the one runtime.Scheme both binaries, the local
// cluster and the integration suites decode and read with.
package scheme

import (
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/korvid/korvid/api/v1alpha1"
)

// New returns a scheme with the built-in kinds, CustomResourceDefinitions
// and korvid's API (kro.run/v1alpha1). The controller adds GraphRevisions
// to it in its Setup.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, extv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err) // only fails on programming errors in the registered types
		}
	}
	return s
}
