package instance

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestDesiredHolds(t *testing.T) {
	desired := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "a", "labels": map[string]any{"app": "a"}},
		"spec": map[string]any{
			"replicas": int64(2),
			"template": map[string]any{"spec": map[string]any{
				"containers": []any{map[string]any{"name": "web", "image": "nginx"}},
			}},
		},
	}}
	live := func(mut func(o map[string]any)) *unstructured.Unstructured {
		u := desired.DeepCopy()
		md := u.Object["metadata"].(map[string]any)
		md["uid"], md["resourceVersion"] = "u1", "7"
		md["labels"].(map[string]any)["team"] = "x" // another manager's label
		c := u.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
		c["imagePullPolicy"] = "IfNotPresent" // a default
		u.Object["status"] = map[string]any{"availableReplicas": int64(2)}
		if mut != nil {
			mut(u.Object)
		}
		return u
	}
	cases := map[string]struct {
		mut  func(o map[string]any)
		want bool
	}{
		"defaults, status and other managers' fields": {nil, true},
		"a number of another type":                    {func(o map[string]any) { o["spec"].(map[string]any)["replicas"] = float64(2) }, true},
		"a changed value":                             {func(o map[string]any) { o["spec"].(map[string]any)["replicas"] = int64(3) }, false},
		"a removed label": {func(o map[string]any) {
			delete(o["metadata"].(map[string]any)["labels"].(map[string]any), "app")
		}, false},
		"a list item added": {func(o map[string]any) {
			s := o["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			s["containers"] = append(s["containers"].([]any), map[string]any{"name": "sidecar"})
		}, false},
		"a changed list item": {func(o map[string]any) {
			s := o["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			s["containers"].([]any)[0].(map[string]any)["image"] = "other"
		}, false},
	}
	for name, c := range cases {
		if got := desiredHolds(desired, live(c.mut)); got != c.want {
			t.Errorf("%s: desiredHolds = %v, want %v", name, got, c.want)
		}
	}
	if desiredHash(desired) != desiredHash(desired.DeepCopy()) {
		t.Error("the hash of equal objects differs")
	}
	if olderRV("10", "9") || !olderRV("9", "10") || olderRV("x", "10") {
		t.Error("olderRV")
	}
}
