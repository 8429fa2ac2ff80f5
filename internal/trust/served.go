package trust

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	// resources maps each resource that may serve the kind to whether
	// discovery lists it.
	resources := map[string]bool{kind.Resource: false}
	if idx, ok := disc.(servedIndex); ok {
		served, answered, err := idx.servedBy(ctx, gk)
		if err != nil {
			return field.ErrorList{field.InternalError(kindPath, err)}
		}
		if answered {
			for _, r := range served {
				resources[r] = true
			}
			return checkServedResources(ctx, crds, rgdName, gk, resources, kindPath)
		}
	}
	versions, err := groupVersions(ctx, disc, gk.Group)
	if err != nil {
		return field.ErrorList{field.InternalError(kindPath, fmt.Errorf("listing the API groups the cluster serves: %w", err))}
	}
	for _, v := range versions {
		list, err := disc.ServerResourcesForGroupVersion(v)
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue // the version went away since the group list
			}
			return field.ErrorList{field.InternalError(kindPath, fmt.Errorf("discovering %s: %w", v, err))}
		}
		for _, r := range list.APIResources {
			if r.Kind == gk.Kind && !strings.Contains(r.Name, "/") {
				resources[r.Name] = true
			}
		}
	}
	return checkServedResources(ctx, crds, rgdName, gk, resources, kindPath)
}

// checkServedResources refuses, at kindPath, every resource discovered to
// serve gk that is not a CRD of this RGD; resources maps each candidate to
// whether discovery lists it.
func checkServedResources(ctx context.Context, crds client.Reader, rgdName string, gk schema.GroupKind, resources map[string]bool, kindPath *field.Path) field.ErrorList {
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

// groupVersions returns the versions the API server serves of one group, as
// discovery says now. For a named group it asks for that group alone
// (/apis/<group>: a few hundred bytes) instead of every group the cluster
// serves (/api and /apis, decoded on every RGD admission); the answer is
// the same and as fresh.
func groupVersions(ctx context.Context, disc discovery.DiscoveryInterface, group string) ([]string, error) {
	if rc := disc.RESTClient(); group != "" && rc != nil && !reflect.ValueOf(rc).IsNil() {
		raw, err := rc.Get().AbsPath("/apis", group).Do(ctx).Raw()
		if apierrors.IsNotFound(err) {
			return nil, nil // the group is not served
		}
		if err != nil {
			return nil, err
		}
		var g metav1.APIGroup
		if err := json.Unmarshal(raw, &g); err != nil {
			return nil, fmt.Errorf("decoding the discovery of group %s: %w", group, err)
		}
		out := make([]string, 0, len(g.Versions))
		for _, v := range g.Versions {
			out = append(out, v.GroupVersion)
		}
		return out, nil
	}
	groups, err := disc.ServerGroups()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, g := range groups.Groups {
		if g.Name != group {
			continue
		}
		for _, v := range g.Versions {
			out = append(out, v.GroupVersion)
		}
	}
	return out, nil
}
