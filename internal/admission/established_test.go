package admission

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/test/rgdtest"
)

// gizmoCRD is a namespaced kind of its own group, so that nothing about it
// is cached before the test creates it.
func gizmoCRD(group string) *extv1.CustomResourceDefinition {
	return rgdtest.CRD(group, "v1", "Gizmo", map[string]extv1.JSONSchemaProps{
		"size":  {Type: "integer", Format: "int32", Minimum: ptr.To(0.0)},
		"color": {Type: "string"},
	})
}

// An RGD templating a kind whose CRD has just become Established is
// admitted at once, as `kubectl apply -f crd.yaml && kubectl wait
// --for=condition=Established ... && kubectl apply -f rgd.yaml` expects,
// even though the API server publishes the kind's OpenAPI v3 schema (and
// may update discovery) some time after it reports it Established.
func TestRGDOverAJustEstablishedCRD(t *testing.T) {
	webhookServer(t)
	run := rand.Uint32() // -count=N: CRDs of a previous run may still be terminating
	for i := range 5 {
		group := fmt.Sprintf("fresh%d-%d.example.korvid.dev", run, i)
		crd := gizmoCRD(group)
		require.NoError(t, env.Client.Create(ctx(t), crd))
		t.Cleanup(func() { _ = env.Client.Delete(ctx(t), crd) })
		require.Eventually(t, func() bool {
			got := &extv1.CustomResourceDefinition{}
			if env.Client.Get(ctx(t), client.ObjectKeyFromObject(crd), got) != nil {
				return false
			}
			for _, c := range got.Status.Conditions {
				if c.Type == extv1.Established && c.Status == extv1.ConditionTrue {
					return true
				}
			}
			return false
		}, 30*time.Second, 10*time.Millisecond)

		rgd := rgdtest.New(fmt.Sprintf("over-fresh-%d-%d", run, i), fmt.Sprintf("OverFresh%dx%d", run, i)).
			Spec("size", "integer | default=1").
			Resource("gizmo", map[string]any{
				"apiVersion": group + "/v1", "kind": "Gizmo",
				"metadata": map[string]any{"name": "${schema.metadata.name}"},
				"spec":     map[string]any{"size": "${schema.spec.size}", "color": "blue"},
			}).
			Build()
		require.NoError(t, createRGD(t, env.Client, rgd), "attempt %d: the RGD is admitted right after its CRD is Established", i)
	}
}
