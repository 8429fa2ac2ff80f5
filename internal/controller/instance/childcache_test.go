package instance

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// A child cached typed must read exactly as the same object decoded from the
// API server's JSON: CEL, readiness and the drift check see one form.
func TestTypedChildReadsAsItsJSON(t *testing.T) {
	now := metav1.Now()
	dep := &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "shop", UID: "u-1", ResourceVersion: "42", Generation: 3,
			CreationTimestamp: now, Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{AnnotationAppliedHash: "abc"},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: ptr.To(intstr.FromString("25%")), MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
				}}},
			},
		},
		Status: appsv1.DeploymentStatus{
			ObservedGeneration: 3, Replicas: 2, AvailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, LastUpdateTime: now, LastTransitionTime: now, Reason: "MinimumReplicasAvailable"}},
		},
	}
	data, err := json.Marshal(dep)
	require.NoError(t, err)
	fromJSON := &unstructured.Unstructured{}
	require.NoError(t, fromJSON.UnmarshalJSON(data))

	typed := dep.DeepCopy()
	typed.TypeMeta = metav1.TypeMeta{} // the cache's typed objects carry no kind
	got, err := asUnstructured(appsv1.SchemeGroupVersion.WithKind("Deployment"), typed)
	require.NoError(t, err)
	assert.Equal(t, fromJSON.Object, got.Object)
	assert.True(t, desiredHolds(fromJSON, got) && desiredHolds(got, fromJSON), "the drift check sees no difference")
}

func TestServerMinorVersion(t *testing.T) {
	for _, tc := range []struct {
		major, minor string
		want         int
		ok           bool
	}{
		{"1", "37", 37, true},
		{"1", "37+", 37, true},
		{"2", "0", 0, false},
		{"1", "", 0, false},
	} {
		got, ok := parseMinor(tc.major, tc.minor)
		assert.Equal(t, tc.ok, ok, "%s.%s", tc.major, tc.minor)
		assert.Equal(t, tc.want, got, "%s.%s", tc.major, tc.minor)
	}
}

func TestBuiltAPIMinorMatchesGoMod(t *testing.T) {
	data, err := os.ReadFile("../../../go.mod")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/api v0\.(\d+)\.`).FindSubmatch(data)
	require.NotNil(t, m, "go.mod requires k8s.io/api")
	assert.Equal(t, string(m[1]), strconv.Itoa(builtAPIMinor), "builtAPIMinor follows the k8s.io/api version in go.mod")
}
