package trust

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
)

// OwnedBy reports whether a generated CRD belongs to the named RGD.
func OwnedBy(crd client.Object, rgdName string) bool {
	l := crd.GetLabels()
	return l[v1alpha1.LabelOwned] == "true" && l[v1alpha1.LabelRGDName] == rgdName
}

// CheckServed refuses a generated kind that the API server already serves
// other than through the RGD's own CRD: a built-in or aggregated API, or a
// CRD that korvid did not create for this RGD. Discovery tells every
// resource that serves the group/kind at any version; each must be a CRD
// labelled as this RGD's.
func CheckServed(ctx context.Context, disc discovery.DiscoveryInterface, crds client.Reader, rgdName string, kind graph.InstanceKind) field.ErrorList {
	kindPath := field.NewPath("spec", "schema", "kind")
	gk := kind.GVK.GroupKind()
	groups, err := disc.ServerGroups()
	if err != nil {
		return field.ErrorList{field.InternalError(kindPath, fmt.Errorf("listing the API groups the cluster serves: %w", err))}
	}
	// resources maps each resource that may serve the kind to whether
	// discovery lists it.
	resources := map[string]bool{kind.Resource: false}
	for _, g := range groups.Groups {
		if g.Name != gk.Group {
			continue
		}
		for _, v := range g.Versions {
			list, err := disc.ServerResourcesForGroupVersion(v.GroupVersion)
			if err != nil {
				if apierrors.IsNotFound(err) {
					continue // the version went away since the group list
				}
				return field.ErrorList{field.InternalError(kindPath, fmt.Errorf("discovering %s: %w", v.GroupVersion, err))}
			}
			for _, r := range list.APIResources {
				if r.Kind == gk.Kind && !strings.Contains(r.Name, "/") {
					resources[r.Name] = true
				}
			}
		}
	}
	var errs field.ErrorList
	for _, res := range slices.Sorted(maps.Keys(resources)) {
		discovered := resources[res]
		crd := &extv1.CustomResourceDefinition{}
		name := res + "." + gk.Group
		err := crds.Get(ctx, client.ObjectKey{Name: name}, crd)
		switch {
		case apierrors.IsNotFound(err):
			if discovered {
				errs = append(errs, field.Forbidden(kindPath, fmt.Sprintf(
					"kind %s of group %s is already served by the API server (resource %s, a built-in or aggregated API); a generated kind never shadows it", gk.Kind, gk.Group, res)))
			}
		case err != nil:
			errs = append(errs, field.InternalError(kindPath, fmt.Errorf("reading CustomResourceDefinition %s: %w", name, err)))
		case OwnedBy(crd, rgdName):
		case crd.Labels[v1alpha1.LabelOwned] == "true" && crd.Labels[v1alpha1.LabelRGDName] != "":
			errs = append(errs, field.Forbidden(kindPath, fmt.Sprintf(
				"kind %s of group %s is already served by CustomResourceDefinition %s, which belongs to ResourceGraphDefinition %q", gk.Kind, gk.Group, name, crd.Labels[v1alpha1.LabelRGDName])))
		default:
			errs = append(errs, field.Forbidden(kindPath, fmt.Sprintf(
				"kind %s of group %s is already served by CustomResourceDefinition %s, which korvid does not manage; korvid never takes over a CRD it did not create", gk.Kind, gk.Group, name)))
		}
	}
	return errs
}
