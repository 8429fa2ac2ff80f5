// Package apischeme registers the kinds of korvid's API packages with a
// runtime.Scheme. It depends only on apimachinery, so the API packages stay
// importable by any client.
package apischeme

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Builder returns a scheme builder that registers types under gv, with the
// meta types (options, status, watch events) of that group/version.
func Builder(gv schema.GroupVersion, types ...runtime.Object) runtime.SchemeBuilder {
	return runtime.NewSchemeBuilder(func(s *runtime.Scheme) error {
		s.AddKnownTypes(gv, types...)
		metav1.AddToGroupVersion(s, gv)
		return nil
	})
}
