package instance

import (
	"encoding/json"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/korvid/korvid/api/v1alpha1"
)

func TestConditions(t *testing.T) {
	tests := []struct {
		name                  string
		p                     pass
		state                 string
		readyStatus, readyWhy string
		message               string
	}{
		{name: "all ready has kro's wording and an empty Ready message", state: v1alpha1.InstanceStateActive,
			readyStatus: "True", readyWhy: ReasonReady, message: ""},
		{name: "pending input names the waiting node",
			p:     pass{pending: []nodeMessage{{"service", "waiting for deployment"}}},
			state: v1alpha1.InstanceStateInProgress, readyStatus: "False", readyWhy: ReasonNotReady,
			message: "awaiting resource readiness: service: waiting for deployment"},
		{name: "not ready names the node",
			p:     pass{notReady: []nodeMessage{{"deployment", "readyWhen is not yet true"}}},
			state: v1alpha1.InstanceStateInProgress, readyStatus: "False", readyWhy: ReasonNotReady,
			message: "awaiting resource readiness: deployment: readyWhen is not yet true"},
		{name: "a terminating child is ResourceDeleting",
			p:     pass{deleting: []nodeMessage{{"config", "ConfigMap ns/x is terminating"}}},
			state: v1alpha1.InstanceStateInProgress, readyStatus: "False", readyWhy: ReasonResourceDeleting,
			message: "waiting for terminating resources: config: ConfigMap ns/x is terminating"},
		{name: "evaluation failure is an error",
			p:     pass{failures: []nodeMessage{{"config", "division by zero"}}},
			state: v1alpha1.InstanceStateError, readyStatus: "False", readyWhy: ReasonNotReady,
			message: "resource reconciliation failed: config: division by zero"},
		{name: "conflict is an error",
			p:     pass{conflicts: []nodeMessage{{"config", "ConfigMap ns/x already belongs to another instance"}}},
			state: v1alpha1.InstanceStateError, readyStatus: "False", readyWhy: ReasonNotReady,
			message: "resource reconciliation failed: config: ConfigMap ns/x already belongs to another instance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, cs := conditions(&tt.p)
			require.Equal(t, tt.state, state)
			require.Len(t, cs, 4)
			require.Equal(t, condition(v1alpha1.ConditionInstanceManaged, "True", "Managed", "instance is properly managed with finalizers and labels"), cs[0])
			require.Equal(t, condition(v1alpha1.ConditionGraphResolved, "True", "Resolved", "runtime graph created and all resources resolved"), cs[1])
			if tt.readyStatus == "True" {
				require.Equal(t, condition(v1alpha1.ConditionResourcesReady, "True", "AllResourcesReady", "all resources are created and ready"), cs[2])
			}
			require.Equal(t, condition(v1alpha1.ConditionReady, metav1.ConditionStatus(tt.readyStatus), tt.readyWhy, tt.message), cs[3])
			if tt.readyStatus != "True" {
				require.Equal(t, cs[2].Message, cs[3].Message, "Ready mirrors ResourcesReady")
			}
		})
	}
}

func TestIsReconcileSuspended(t *testing.T) {
	for v, want := range map[string]bool{
		"suspended": true, "Suspended": true, "SUSPENDED": true, "disabled": true, "Disabled": true,
		"": false, "enabled": false, "suspend": false,
	} {
		require.Equal(t, want, v1alpha1.IsReconcileSuspended(v), v)
	}
}

func TestReadyOfMirrorsFirstUnhealthy(t *testing.T) {
	cs := previousConditions(map[string]any{"conditions": []any{
		map[string]any{"type": "InstanceManaged", "status": "True", "reason": "Managed", "message": "m"},
		map[string]any{"type": "ResourcesReady", "status": "True", "reason": "AllResourcesReady", "message": "r"},
		map[string]any{"type": "Ready", "status": "True", "reason": "Ready", "message": ""},
	}})
	meta.SetStatusCondition(&cs, condition(v1alpha1.ConditionResourcesReady, "False", ReasonSuspended, messageSuspended))
	require.Len(t, cs, 2, "Ready is recomputed, not kept")
	require.Equal(t, condition(v1alpha1.ConditionReady, "False", "ReconciliationSuspended", messageSuspended), readyOf(cs))
}

func TestBuildConditionsKeepsTransitionTime(t *testing.T) {
	old := map[string]any{"conditions": []any{
		map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"},
		map[string]any{"type": "GraphResolved", "status": "False", "lastTransitionTime": "2020-01-01T00:00:00Z"},
	}}
	out := buildConditions(conditionsOf(old), 3, []metav1.Condition{condition("Ready", "True", "Ready", ""), condition("GraphResolved", "True", "Resolved", "")})
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
	require.False(t, sameJSON(nil, map[string]any{}))
	require.False(t, sameJSON(map[string]any{"a": nil}, map[string]any{}))
	require.True(t, sameJSON(map[string]any{"a": []any{map[string]any{"b": int64(1)}}}, map[string]any{"a": []any{map[string]any{"b": float64(1)}}}))
	require.False(t, sameJSON(map[string]any{"a": []any{"x"}}, map[string]any{"a": []any{"x", "y"}}))
	require.True(t, sameJSON(map[string]any{"a": []string{"x"}}, map[string]any{"a": []any{"x"}}), "other types compare by encoding")
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

func TestTerminatingNamesObjectsBeingDeleted(t *testing.T) {
	live := map[string]any{"kind": "ConfigMap", "metadata": map[string]any{"name": "a", "namespace": "ns"}}
	dying := map[string]any{"kind": "ConfigMap", "metadata": map[string]any{"name": "b", "namespace": "ns", "deletionTimestamp": "2025-01-01T00:00:00Z"}}
	require.Empty(t, terminating(live))
	require.Equal(t, "ConfigMap ns/b is terminating", terminating(dying))
	require.Equal(t, "ConfigMap ns/b is terminating", terminating([]any{live, dying}))
}

func TestNotManagedConditionsMirrorOnReady(t *testing.T) {
	cs := previousConditions(map[string]any{})
	meta.SetStatusCondition(&cs, condition(v1alpha1.ConditionInstanceManaged, "False", ReasonManagementFailed, "finalizer/labeling failed: forbidden"))
	require.Equal(t, condition(v1alpha1.ConditionReady, "False", "ManagementFailed", "finalizer/labeling failed: forbidden"), readyOf(cs))
}

func TestStatusMergePatchTurnsTheOldStatusIntoTheNew(t *testing.T) {
	condition := func(status string) map[string]any {
		return map[string]any{"type": "Ready", "status": status, "reason": "Ready", "observedGeneration": int64(2)}
	}
	tests := []struct {
		name     string
		old, new map[string]any
		patch    string
	}{
		{name: "first status", old: nil,
			new:   map[string]any{"state": "IN_PROGRESS", "conditions": []any{condition("False")}},
			patch: `{"conditions":[{"observedGeneration":2,"reason":"Ready","status":"False","type":"Ready"}],"state":"IN_PROGRESS"}`},
		{name: "a changed condition replaces the list; unchanged fields are left out",
			old:   map[string]any{"state": "IN_PROGRESS", "conditions": []any{condition("False")}, "url": "a"},
			new:   map[string]any{"state": "ACTIVE", "conditions": []any{condition("True")}, "url": "a"},
			patch: `{"conditions":[{"observedGeneration":2,"reason":"Ready","status":"True","type":"Ready"}],"state":"ACTIVE"}`},
		{name: "nested maps are patched key by key; removed keys become null",
			old:   map[string]any{"endpoint": map[string]any{"host": "a", "port": int64(80), "tls": true}, "gone": "x"},
			new:   map[string]any{"endpoint": map[string]any{"host": "b", "port": float64(80)}},
			patch: `{"endpoint":{"host":"b","tls":null},"gone":null}`},
		{name: "a value that turns into a map replaces it",
			old:   map[string]any{"v": "text", "m": map[string]any{"a": int64(1)}},
			new:   map[string]any{"v": map[string]any{"a": int64(1)}, "m": "text"},
			patch: `{"m":"text","v":{"a":1}}`},
		{name: "equal numbers of different Go types are no change",
			old:   map[string]any{"replicas": int64(3)},
			new:   map[string]any{"replicas": float64(3)},
			patch: `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			patch, err := json.Marshal(mergePatch(tt.old, tt.new))
			require.NoError(t, err)
			require.JSONEq(t, tt.patch, string(patch))

			// Applied to the old status as the API server applies it, the
			// patch yields the new one.
			oldJSON, err := json.Marshal(tt.old)
			require.NoError(t, err)
			if tt.old == nil {
				oldJSON = []byte(`{}`)
			}
			got, err := jsonpatch.MergePatch(oldJSON, patch)
			require.NoError(t, err)
			want, err := json.Marshal(tt.new)
			require.NoError(t, err)
			require.JSONEq(t, string(want), string(got))
		})
	}
}
