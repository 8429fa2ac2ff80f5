package admission

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/registry"
	"github.com/korvid/korvid/test/rgdtest"
)

// oneRGD is a reader that knows one RGD.
type oneRGD struct {
	client.Reader
	rgd *v1alpha1.ResourceGraphDefinition
}

func (o oneRGD) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	list.(*v1alpha1.ResourceGraphDefinitionList).Items = []v1alpha1.ResourceGraphDefinition{*o.rgd.DeepCopy()}
	return nil
}

func TestInstanceAdmissionStopsAtTheDeadline(t *testing.T) {
	rgd := rgdtest.Slow().Build()
	rgd.UID, rgd.Generation = "5a0e0000-0000-0000-0000-000000000001", 1
	// Without cost limits, only the request's deadline stops the loop.
	opts := graph.DefaultOptions()
	opts.MaxExpressionCost, opts.RuntimeCostLimit = math.MaxUint64, math.MaxUint64
	reg := registry.New(liveResolver(t), opts, oneRGD{rgd: rgd}, nil)
	_, errs := reg.Get(rgd) // warm the cache: the deadline is for the evaluation
	require.Empty(t, errs)

	items := make([]any, 5000)
	for i := range items {
		items[i] = int64(i)
	}
	obj := instance(map[string]any{"items": items})
	obj["kind"] = "Slow"
	raw, err := json.Marshal(obj)
	require.NoError(t, err)
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "slow", Operation: admissionv1.Create, Name: "w", Namespace: "default",
		Kind:   metav1.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "Slow"},
		Object: runtime.RawExtension{Raw: raw},
	}}

	t.Run("CheckInstance", func(t *testing.T) {
		c, _ := reg.Get(rgd)
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		ferrs, err := CheckInstance(ctx, c, obj)
		require.ErrorIs(t, err, graph.ErrInterrupted)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Empty(t, ferrs)
		assert.Less(t, time.Since(start), 2*time.Second)
	})

	t.Run("the webhook answers a retryable timeout", func(t *testing.T) {
		h := guard(NewMetrics(), "", 200*time.Millisecond, &InstanceValidator{Registry: reg})
		start := time.Now()
		resp := h.Handle(t.Context(), req)
		took := time.Since(start)
		assert.Less(t, took, 2*time.Second, "answered at the deadline, not when the loop would end")
		assert.False(t, resp.Allowed)
		require.NotNil(t, resp.Result)
		assert.EqualValues(t, 504, resp.Result.Code, "a server timeout, not a denial: %v", resp.Result)
		assert.Equal(t, metav1.StatusReasonTimeout, resp.Result.Reason, "not Invalid")
		require.NotNil(t, resp.Result.Details)
		assert.Positive(t, resp.Result.Details.RetryAfterSeconds, "the client is told to retry")
		assert.Contains(t, resp.Result.Message, "did not finish in time")
		assert.Contains(t, resp.Result.Message, "evaluation interrupted")
	})
}
