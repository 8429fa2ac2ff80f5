// Package krotest writes objects as kro v0.9 leaves them in a cluster, for
// the tests that check korvid takes over from kro: an RGD kro serves, the
// CRD kro generates for it, the metadata of an instance and of its children,
// and the status of an ACTIVE instance.
package krotest

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"strings"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/test/rgdtest"
)

// Version is the kro release the objects come from.
const Version = "v0.9.1"

// ApplySetID is the KEP-3659 ApplySet id kro gives an instance.
func ApplySetID(name, ns, kind, group string) string {
	sum := sha256.Sum256([]byte(name + "." + ns + "." + kind + "." + group))
	return "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
}

// RGD is the RGD of the migration tests: instances of kind have a string
// field value (default "a"); resource config is a ConfigMap named after the
// instance holding the value and data, resource consumer a ConfigMap that
// reads it.
func RGD(name, kind string, data map[string]any) *rgdtest.Builder {
	cfg := map[string]any{"value": "${schema.spec.value}"}
	maps.Copy(cfg, data)
	return rgdtest.New(name, kind).Spec("value", `string | default="a"`).
		ConfigMap("config", "${schema.metadata.name}", cfg).
		ConfigMap("consumer", "${config.metadata.name}-consumer", map[string]any{"from": "${config.data.value}"})
}

// CRD is the CRD kro generates for the RGD rgdName (uid rgdID) of a
// namespaced kind of group kro.run whose spec has a string field value
// (default "a") and whose status has the string fields statusFields.
func CRD(kind, plural, rgdName, rgdID string, statusFields ...string) (*extv1.CustomResourceDefinition, error) {
	var status strings.Builder
	for _, f := range statusFields {
		fmt.Fprintf(&status, "\n              %s: {type: string}", f)
	}
	crd := &extv1.CustomResourceDefinition{}
	return crd, yaml.UnmarshalStrict(fmt.Appendf(nil, crdTemplate, plural, Version, rgdID, rgdName,
		kind, kind, plural, strings.ToLower(kind), status.String()), crd)
}

const crdTemplate = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %s.kro.run
  labels: {kro.run/owned: "true", kro.run/kro-version: %s, kro.run/resource-graph-definition-id: %s, kro.run/resource-graph-definition-name: %s}
spec:
  group: kro.run
  names: {kind: %s, listKind: %sList, plural: %s, singular: %s}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: State, description: The state of a ResourceGraphDefinition instance, type: string, jsonPath: .status.state}
    - {name: Ready, description: Whether a ResourceGraphDefinition instance is ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Age, description: Age of the resource, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec: {type: object, default: {}, properties: {value: {type: string, default: a}}}
          status:
            type: object
            properties:
              state: {type: string}%s
              conditions:
                type: array
                items:
                  type: object
                  properties: {type: {type: string}, status: {type: string}, reason: {type: string}, message: {type: string},
                    lastTransitionTime: {type: string}, observedGeneration: {type: integer}}
`

// SetInstance gives inst (its kind, namespace and name set) the labels,
// annotations and finalizer kro gives an instance of the RGD rgdName (uid
// rgdID) whose children are ConfigMaps.
func SetInstance(inst *unstructured.Unstructured, rgdName, rgdID string) {
	inst.SetLabels(map[string]string{
		"kro.run/owned": "true", "kro.run/kro-version": Version,
		"kro.run/resource-graph-definition-id": rgdID, "kro.run/resource-graph-definition-name": rgdName,
		"applyset.kubernetes.io/id": applySetOf(inst),
	})
	inst.SetAnnotations(map[string]string{
		"applyset.kubernetes.io/tooling":              "kro/" + Version,
		"applyset.kubernetes.io/contains-group-kinds": "ConfigMap",
	})
	inst.SetFinalizers([]string{"kro.run/finalizer"})
}

// ChildLabels are the labels kro gives the object that node of inst renders.
func ChildLabels(inst *unstructured.Unstructured, node string) map[string]string {
	gvk := inst.GroupVersionKind()
	return map[string]string{
		"kro.run/owned": "true", "kro.run/kro-version": Version,
		"kro.run/instance-id": string(inst.GetUID()), "kro.run/instance-name": inst.GetName(),
		"kro.run/instance-namespace": inst.GetNamespace(), "kro.run/instance-group": gvk.Group,
		"kro.run/instance-version": gvk.Version, "kro.run/instance-kind": gvk.Kind,
		"kro.run/node-id": node, "app.kubernetes.io/managed-by": "kro",
		"applyset.kubernetes.io/part-of": applySetOf(inst),
	}
}

func applySetOf(inst *unstructured.Unstructured) string {
	gvk := inst.GroupVersionKind()
	return ApplySetID(inst.GetName(), inst.GetNamespace(), gvk.Kind, gvk.Group)
}

// ActiveStatus is the status kro writes on an ACTIVE instance of generation
// gen whose conditions turned True at ts, with the instance's own fields.
func ActiveStatus(gen int64, ts string, fields map[string]any) map[string]any {
	cond := func(typ, reason, msg string) map[string]any {
		return map[string]any{"type": typ, "status": "True", "reason": reason, "message": msg,
			"lastTransitionTime": ts, "observedGeneration": gen}
	}
	status := map[string]any{
		"state": "ACTIVE",
		"conditions": []any{
			cond("InstanceManaged", "Managed", "instance is properly managed with finalizers and labels"),
			cond("GraphResolved", "Resolved", "runtime graph created and all resources resolved"),
			cond("ResourcesReady", "AllResourcesReady", "all resources are created and ready"),
			cond("Ready", "Ready", ""),
		},
	}
	maps.Copy(status, fields)
	return status
}
