package instance

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/korvid/korvid/api/v1alpha1"
)

func TestConditions(t *testing.T) {
	tests := []struct {
		name        string
		p           pass
		state       string
		readyReason string
		message     string
	}{
		{name: "all ready", state: v1alpha1.InstanceStateActive, readyReason: ReasonReady},
		{name: "pending input names the waiting node",
			p:     pass{pending: []nodeMessage{{"service", "waiting for deployment"}}},
			state: v1alpha1.InstanceStateInProgress, readyReason: ReasonPending, message: "service: waiting for deployment"},
		{name: "not ready names the node",
			p:     pass{notReady: []nodeMessage{{"deployment", "readyWhen is not yet true"}}},
			state: v1alpha1.InstanceStateInProgress, readyReason: ReasonNotReady, message: "deployment: readyWhen is not yet true"},
		{name: "evaluation failure is an error",
			p:     pass{failures: []nodeMessage{{"config", "division by zero"}}},
			state: v1alpha1.InstanceStateError, readyReason: ReasonEvaluationFailed, message: "config: division by zero"},
		{name: "conflict is an error",
			p:     pass{conflicts: []nodeMessage{{"config", "ConfigMap ns/x already belongs to another instance"}}},
			state: v1alpha1.InstanceStateError, readyReason: ReasonConflict, message: "config: ConfigMap ns/x already belongs to another instance"},
		{name: "apply failure is an error",
			p:     pass{failures: []nodeMessage{{"config", "applying ConfigMap ns/x: forbidden"}}},
			state: v1alpha1.InstanceStateError, readyReason: ReasonApplyFailed, message: "config: applying ConfigMap ns/x: forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, cs := conditions(&tt.p)
			require.Equal(t, tt.state, state)
			require.Len(t, cs, 4)
			ready := cs[3]
			require.Equal(t, v1alpha1.ConditionReady, ready.typ)
			require.Equal(t, tt.readyReason, ready.reason)
			if tt.message != "" {
				require.Equal(t, tt.message, ready.message)
			}
		})
	}
}

func TestBuildConditionsKeepsTransitionTime(t *testing.T) {
	old := map[string]any{"conditions": []any{
		map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"},
		map[string]any{"type": "GraphResolved", "status": "False", "lastTransitionTime": "2020-01-01T00:00:00Z"},
	}}
	out := buildConditions(old, 3, []cond{{"Ready", "True", "Ready", ""}, {"GraphResolved", "True", "Resolved", ""}})
	require.Equal(t, "2020-01-01T00:00:00Z", out[0].(map[string]any)["lastTransitionTime"])
	require.NotEqual(t, "2020-01-01T00:00:00Z", out[1].(map[string]any)["lastTransitionTime"])
	require.Equal(t, int64(3), out[1].(map[string]any)["observedGeneration"])
}

func TestGroupKindsRoundTrip(t *testing.T) {
	s := parseGroupKinds(" Service,Deployment.apps,,ConfigMap ")
	require.Equal(t, sets.New("Service", "Deployment.apps", "ConfigMap"), s)
	require.Equal(t, "ConfigMap,Deployment.apps,Service", formatGroupKinds(s))
}

func TestSameJSONComparesNumbersByValue(t *testing.T) {
	require.True(t, sameJSON(map[string]any{"a": int64(2)}, map[string]any{"a": float64(2)}))
	require.False(t, sameJSON(map[string]any{"a": int64(2)}, map[string]any{"a": int64(3)}))
}

func TestEqualUnmanagedIgnoresReconcilerKeys(t *testing.T) {
	base := map[string]string{"team": "a", v1alpha1.AnnotationReconcile: v1alpha1.ReconcileSuspended}
	withManaged := map[string]string{"team": "a", v1alpha1.AnnotationReconcile: v1alpha1.ReconcileSuspended,
		v1alpha1.LabelOwned: "true", v1alpha1.AnnotationApplySetGroupKinds: "ConfigMap"}
	require.True(t, equalUnmanaged(base, withManaged))
	require.True(t, equalUnmanaged(withManaged, base))
	require.False(t, equalUnmanaged(base, map[string]string{"team": "a"}), "removing the suspension must trigger a reconcile")
	require.False(t, equalUnmanaged(base, map[string]string{"team": "b", v1alpha1.AnnotationReconcile: v1alpha1.ReconcileSuspended}))
}
