package resolver_test

import (
	"bytes"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/korvid/korvid/internal/graph/resolver"
)

// FuzzCRDs feeds arbitrary documents through CRD decoding and conversion:
// every input is either rejected with an error or yields resolvable kinds.
func FuzzCRDs(f *testing.F) {
	seed, err := os.ReadFile("testdata/crds.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  group: a.b\n  scope: Cluster\n  names: {kind: A, plural: as}\n  versions: [{name: v1, served: true, schema: {openAPIV3Schema: {type: object, properties: {spec: {type: array, items: {type: object, x-kubernetes-embedded-resource: true}}}}}}]\n"))
	f.Add([]byte("kind: List\nitems: [1, null, {}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		crds, err := resolver.ReadCRDs(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, crd := range crds {
			s, err := resolver.NewStatic(crd)
			if err != nil {
				continue
			}
			for _, v := range crd.Spec.Versions {
				gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
				k, err := s.Resolve(gvk)
				if v.Served && (err != nil || k.Schema == nil) {
					t.Fatalf("served version %s of an accepted CRD does not resolve: %v", gvk, err)
				}
			}
		}
	})
}
