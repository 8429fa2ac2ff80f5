package admission

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/korvid/korvid/internal/registry"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// workloadKinds become useful some time after they exist; without readyWhen
// their dependents start before they are available.
var workloadKinds = map[schema.GroupKind]string{
	{Group: "apps", Kind: "Deployment"}:  "${%s.status.availableReplicas == %s.spec.replicas}",
	{Group: "apps", Kind: "StatefulSet"}: "${%s.status.readyReplicas == %s.spec.replicas}",
	{Group: "apps", Kind: "DaemonSet"}:   "${%s.status.numberReady == %s.status.desiredNumberScheduled}",
	{Group: "batch", Kind: "Job"}:        "${%s.status.succeeded > 0}",
}

// specListRef matches a forEach value that iterates directly over an
// instance spec field.
var specListRef = regexp.MustCompile(`^\$\{\s*schema\.spec((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\}$`)

// warnings lists legal but risky constructs of a compiled RGD.
func warnings(c *registry.Compiled, maxCollection int) []string {
	var out []string
	rgd := c.RGD
	for _, n := range c.Graph.Nodes {
		if n.Index < 0 || n.Index >= len(rgd.Spec.Resources) || rgd.Spec.Resources[n.Index] == nil {
			continue
		}
		res := rgd.Spec.Resources[n.Index]
		p := field.NewPath("spec", "resources").Index(n.Index)
		if suggestion, ok := workloadKinds[n.GVK.GroupKind()]; ok && !n.External && len(res.ReadyWhen) == 0 {
			id := n.ID
			if n.Collection {
				id = "each"
			}
			out = append(out, fmt.Sprintf("%s: %s %q has no readyWhen, so it counts as ready as soon as it exists and its dependents do not wait for it to become available; consider readyWhen: [%q]",
				p.Child("readyWhen"), n.GVK.Kind, n.ID, fmt.Sprintf(suggestion, id, id)))
		}
		for i, dim := range res.ForEach {
			for name, src := range dim {
				m := specListRef.FindStringSubmatch(strings.TrimSpace(src))
				if m == nil {
					continue
				}
				fieldPath := "spec" + m[1]
				s := specField(c.Graph.CRD, strings.Split(m[1][1:], "."))
				if s == nil || s.Type != "array" || s.MaxItems != nil {
					continue
				}
				out = append(out, fmt.Sprintf("%s: collection %q iterates over %s, which has no maxItems; one instance can expand it to %d objects (the limit); add maxItems=<n> to %s in spec.schema.spec",
					p.Child("forEach").Index(i).Key(name), n.ID, fieldPath, maxCollection, fieldPath))
			}
		}
	}
	// The expression is named by its path: sources can be long, and the
	// API server cuts warnings short past 4 KiB in all.
	for _, e := range c.Graph.Costly {
		out = append(out, fmt.Sprintf("%s: the expression's estimated cost over the largest values its schemas allow, %d, is above the runtime cost limit: an evaluation over values that large stops at the limit and fails; bound the sizes it iterates over (maxItems, maxLength) to rule that out",
			e.Path, e.EstimatedCost))
	}
	slices.Sort(out)
	return out
}

// specField returns the schema of spec.<path...> in the generated CRD.
func specField(crd *extv1.CustomResourceDefinition, path []string) *extv1.JSONSchemaProps {
	if crd == nil || len(crd.Spec.Versions) == 0 || crd.Spec.Versions[0].Schema == nil || crd.Spec.Versions[0].Schema.OpenAPIV3Schema == nil {
		return nil
	}
	s, ok := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	if !ok {
		return nil
	}
	cur := &s
	for _, name := range path {
		next, ok := cur.Properties[name]
		if !ok {
			return nil
		}
		cur = &next
	}
	return cur
}
