package graph_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const readsRGD = `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: reads
spec:
  schema:
    apiVersion: v1alpha1
    kind: Reads
    status:
      available: ${deployment.status.conditions.exists(c, c.type == "Available" && c.status == "True")}
      owner: ${config.metadata.?labels["owner"].orValue("")}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
  - id: whole
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-whole
  - id: deployment
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${config.metadata.name}
      spec:
        replicas: '${[whole].size()}'
        selector: {matchLabels: {app: x}}
        template:
          metadata: {labels: {app: x}}
          spec:
            containers: [{name: c, image: "${config.data.image}"}]
    readyWhen:
    - ${deployment.status.availableReplicas == deployment.spec.replicas}
  - id: unread
    template:
      apiVersion: v1
      kind: Service
      metadata:
        name: ${deployment.metadata.name}
      spec:
        ports: [{port: 80}]
`

func TestReadsEqual(t *testing.T) {
	g := mustCompile(t, parseRGD(t, []byte(readsRGD)))
	deployment := func(status map[string]any) map[string]any {
		return map[string]any{
			"metadata": map[string]any{"name": "d", "resourceVersion": "1"},
			"spec":     map[string]any{"replicas": int64(1)},
			"status":   status,
		}
	}
	base := deployment(map[string]any{"observedGeneration": int64(1), "availableReplicas": int64(0),
		"conditions": []any{map[string]any{"type": "Available", "status": "False"}}})

	require.True(t, g.ReadsEqual("deployment", base, deployment(map[string]any{"observedGeneration": int64(2), "updatedReplicas": int64(1), "availableReplicas": int64(0),
		"conditions": []any{map[string]any{"type": "Available", "status": "False"}}})), "status fields no expression reads")
	require.False(t, g.ReadsEqual("deployment", base, deployment(map[string]any{"observedGeneration": int64(1), "availableReplicas": int64(1),
		"conditions": []any{map[string]any{"type": "Available", "status": "False"}}})), "a field readyWhen reads")
	require.False(t, g.ReadsEqual("deployment", base, deployment(map[string]any{"observedGeneration": int64(1), "availableReplicas": int64(0),
		"conditions": []any{map[string]any{"type": "Available", "status": "True"}}})), "a list the status iterates over")
	renamed := deployment(base["status"].(map[string]any))
	renamed["metadata"] = map[string]any{"name": "e"}
	require.False(t, g.ReadsEqual("deployment", base, renamed), "a field another resource's template reads")

	cm := func(labels, data map[string]any) map[string]any {
		return map[string]any{"metadata": map[string]any{"name": "c", "labels": labels}, "data": data}
	}
	require.True(t, g.ReadsEqual("config", cm(map[string]any{"owner": "a", "x": "1"}, map[string]any{"image": "i"}),
		cm(map[string]any{"owner": "a", "x": "2"}, map[string]any{"image": "i"})), "labels[\"owner\"] alone is read")
	require.False(t, g.ReadsEqual("config", cm(map[string]any{"owner": "a"}, nil), cm(map[string]any{"owner": "b"}, nil)), "an optional index by a constant key")
	require.False(t, g.ReadsEqual("config", cm(nil, map[string]any{"image": "i"}), cm(nil, map[string]any{"image": "j"})))

	require.False(t, g.ReadsEqual("whole", cm(nil, nil), cm(nil, map[string]any{"a": "b"})), "an object passed whole to a function")
	require.True(t, g.ReadsEqual("unread", cm(nil, nil), cm(nil, map[string]any{"a": "b"})), "no expression reads it")
	require.False(t, g.ReadsEqual("nosuch", cm(nil, nil), cm(nil, nil)), "an unknown resource")

	require.False(t, g.WritesStatus("deployment"))
	require.True(t, g.WritesStatus("nosuch"))
	withStatus := mustCompile(t, parseRGD(t, []byte(strings.Replace(readsRGD, "        ports: [{port: 80}]\n", "        ports: [{port: 80}]\n      status:\n        loadBalancer: {}\n", 1))))
	require.True(t, withStatus.WritesStatus("unread"), "a template that sets a status")

	annotated := mustCompile(t, parseRGD(t, []byte(strings.Replace(strings.Replace(readsRGD,
		"        name: ${schema.metadata.name}-whole\n", "        name: ${schema.metadata.name}-whole\n        annotations: ${schema.metadata.annotations}\n", 1),
		"        name: ${deployment.metadata.name}\n", "        name: ${deployment.metadata.name}\n        annotations: {team: web, owner: '${schema.metadata.name}'}\n", 1))))
	require.True(t, annotated.WritesMetadataKey("unread", "annotations", "team"), "a literal key")
	require.True(t, annotated.WritesMetadataKey("unread", "annotations", "owner"), "a key with a computed value")
	require.False(t, annotated.WritesMetadataKey("unread", "annotations", "deployment.kubernetes.io/revision"))
	require.True(t, annotated.WritesMetadataKey("whole", "annotations", "anything"), "a computed map may hold any key")
	require.False(t, annotated.WritesMetadataKey("deployment", "annotations", "team"), "a template without annotations")
	require.False(t, annotated.WritesMetadataKey("deployment", "labels", "team"))
}
