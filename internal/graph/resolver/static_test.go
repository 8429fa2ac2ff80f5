package resolver_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/cel/common"
	celopenapi "k8s.io/apiserver/pkg/cel/openapi"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/resolver"
)

// at walks a resolved schema: a property name, "[]" for list items or "{}"
// for map values.
func at(t *testing.T, s *spec.Schema, path string) *spec.Schema {
	t.Helper()
	cur := s
	for _, step := range strings.Split(path, ".") {
		switch step {
		case "[]":
			require.NotNil(t, cur.Items, "%s: no items at %q", path, step)
			require.NotNil(t, cur.Items.Schema, "%s: no items at %q", path, step)
			cur = cur.Items.Schema
		case "{}":
			require.NotNil(t, cur.AdditionalProperties, "%s: no additionalProperties at %q", path, step)
			require.NotNil(t, cur.AdditionalProperties.Schema, "%s: no additionalProperties at %q", path, step)
			cur = cur.AdditionalProperties.Schema
		default:
			p, ok := cur.Properties[step]
			require.True(t, ok, "%s: no property %q (have %v)", path, step, keys(cur.Properties))
			cur = &p
		}
		require.Empty(t, cur.Ref.String(), "%s: unresolved $ref at %q", path, step)
	}
	return cur
}

func keys(m map[string]spec.Schema) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

type fieldWant struct {
	path   string
	typ    string
	format string
}

func TestStaticBuiltinKinds(t *testing.T) {
	r, err := resolver.NewStatic()
	require.NoError(t, err)

	tests := []struct {
		gvk        schema.GroupVersionKind
		resource   string
		namespaced bool
		fields     []fieldWant
	}{
		{
			gvk: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, resource: "deployments", namespaced: true,
			fields: []fieldWant{
				{path: "spec.replicas", typ: "integer", format: "int32"},
				{path: "spec.template.spec.containers.[].image", typ: "string"},
				{path: "spec.template.spec.containers.[].ports.[].containerPort", typ: "integer", format: "int32"},
				{path: "spec.template.metadata.labels.{}", typ: "string"},
				{path: "status.availableReplicas", typ: "integer", format: "int32"},
				{path: "metadata.name", typ: "string"},
				{path: "metadata.creationTimestamp", typ: "string", format: "date-time"},
			},
		},
		{
			gvk: schema.GroupVersionKind{Version: "v1", Kind: "Service"}, resource: "services", namespaced: true,
			fields: []fieldWant{
				{path: "spec.ports.[].port", typ: "integer", format: "int32"},
				{path: "spec.clusterIP", typ: "string"},
				{path: "status.loadBalancer.ingress.[].ip", typ: "string"},
			},
		},
		{
			gvk: schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, resource: "configmaps", namespaced: true,
			fields: []fieldWant{{path: "data.{}", typ: "string"}, {path: "binaryData.{}", typ: "string", format: "byte"}},
		},
		{
			gvk: schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}, resource: "ingresses", namespaced: true,
			fields: []fieldWant{
				{path: "spec.rules.[].host", typ: "string"},
				{path: "spec.rules.[].http.paths.[].backend.service.port.number", typ: "integer", format: "int32"},
			},
		},
		{
			gvk: schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"}, resource: "clusterrolebindings", namespaced: false,
			fields: []fieldWant{{path: "roleRef.name", typ: "string"}, {path: "subjects.[].kind", typ: "string"}},
		},
		{
			gvk: schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, resource: "namespaces", namespaced: false,
			fields: []fieldWant{{path: "status.phase", typ: "string"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.gvk.String(), func(t *testing.T) {
			k, err := r.Resolve(tc.gvk)
			require.NoError(t, err)
			assert.Equal(t, tc.gvk, k.GVK)
			assert.Equal(t, tc.resource, k.Resource)
			assert.Equal(t, tc.namespaced, k.Namespaced)
			assert.Equal(t, tc.gvk.GroupVersion().WithResource(tc.resource), k.GVR())
			require.NotNil(t, k.Schema)
			for _, f := range tc.fields {
				s := at(t, k.Schema, f.path)
				assert.Equal(t, spec.StringOrArray{f.typ}, s.Type, f.path)
				assert.Equal(t, f.format, s.Format, f.path)
			}
		})
	}
}

func TestStaticBuiltinKeepsValidationAndExtensions(t *testing.T) {
	r, err := resolver.NewStatic()
	require.NoError(t, err)
	deploy, err := r.Resolve(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	require.NoError(t, err)

	containers := at(t, deploy.Schema, "spec.template.spec.containers")
	listType, _ := containers.Extensions.GetString("x-kubernetes-list-type")
	assert.Equal(t, "map", listType, "list type of containers")
	assert.Contains(t, containers.Extensions, "x-kubernetes-list-map-keys")
	assert.Contains(t, at(t, deploy.Schema, "spec.template.spec.containers.[]").Required, "name")
	assert.Contains(t, at(t, deploy.Schema, "spec").Required, "selector")
	assert.Empty(t, deploy.Schema.Description, "descriptions are dropped from the snapshot")

	// int-or-string and enums survive.
	maxSurge := at(t, deploy.Schema, "spec.strategy.rollingUpdate.maxSurge")
	assert.Equal(t, "int-or-string", maxSurge.Format, "maxSurge is int-or-string")
	svc, err := r.Resolve(schema.GroupVersionKind{Version: "v1", Kind: "Service"})
	require.NoError(t, err)
	assert.Contains(t, at(t, svc.Schema, "spec.type").Enum, "ClusterIP")
}

func TestStaticSchemaConvertsToCELType(t *testing.T) {
	r, err := resolver.NewStatic()
	require.NoError(t, err)
	deploy, err := r.Resolve(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	require.NoError(t, err)

	dt := common.SchemaDeclType(&celopenapi.Schema{Schema: deploy.Schema}, false)
	require.NotNil(t, dt, "Deployment schema has a CEL type")
	specField, ok := dt.FindField("spec")
	require.True(t, ok)
	replicas, ok := specField.Type.FindField("replicas")
	require.True(t, ok)
	assert.Equal(t, "int", replicas.Type.CelType().String())
	tmpl, ok := specField.Type.FindField("template")
	require.True(t, ok)
	podSpec, ok := tmpl.Type.FindField("spec")
	require.True(t, ok)
	containers, ok := podSpec.Type.FindField("containers")
	require.True(t, ok)
	require.True(t, containers.Type.IsList())
	_, ok = containers.Type.ElemType.FindField("image")
	assert.True(t, ok, "containers[].image is a CEL field")
	assert.Positive(t, containers.Type.MaxElements, "list size bound is known for cost estimation")
}

func TestStaticUnknownKinds(t *testing.T) {
	r, err := resolver.NewStatic()
	require.NoError(t, err)
	tests := []struct {
		name    string
		gvk     schema.GroupVersionKind
		message string
	}{
		{name: "unknown group", gvk: schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Thing"}, message: "neither a built-in kind"},
		{name: "unknown kind in a built-in group", gvk: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deploymnet"}, message: "neither a built-in kind"},
		{name: "removed version", gvk: schema.GroupVersionKind{Group: "apps", Version: "v1beta1", Kind: "Deployment"}, message: "served versions: v1"},
		{name: "kind case matters", gvk: schema.GroupVersionKind{Version: "v1", Kind: "configmap"}, message: "neither a built-in kind"},
		{name: "subresource kind is not a top-level kind", gvk: schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, message: "neither a built-in kind"},
		{name: "empty", gvk: schema.GroupVersionKind{}, message: "neither a built-in kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := r.Resolve(tc.gvk)
			require.Error(t, err)
			assert.Nil(t, k)
			assert.ErrorIs(t, err, graph.ErrKindNotFound)
			assert.Contains(t, err.Error(), tc.message)
		})
	}
}

func TestStaticCRDFile(t *testing.T) {
	r, err := resolver.NewStaticFromFiles("testdata/crds.yaml")
	require.NoError(t, err)

	widget, err := r.Resolve(schema.GroupVersionKind{Group: "example.korvid.dev", Version: "v1", Kind: "Widget"})
	require.NoError(t, err)
	assert.Equal(t, "widgets", widget.Resource)
	assert.True(t, widget.Namespaced)
	s := widget.Schema
	assert.Equal(t, spec.StringOrArray{"integer"}, at(t, s, "spec.size").Type)
	assert.Equal(t, "int32", at(t, s, "spec.size").Format)
	assert.Equal(t, []string{"size"}, at(t, s, "spec").Required)
	assert.Equal(t, int64(8), *at(t, s, "spec.color").MaxLength)
	assert.Equal(t, int64(16), *at(t, s, "spec.tags").MaxItems)
	assert.Len(t, at(t, s, "spec.color").Enum, 3)
	ios, _ := at(t, s, "spec.port").Extensions.GetBool("x-kubernetes-int-or-string")
	assert.True(t, ios)
	assert.Equal(t, spec.StringOrArray{"boolean"}, at(t, s, "status.ready").Type)

	// Object metadata is added as the API server does.
	assert.Equal(t, spec.StringOrArray{"string"}, at(t, s, "apiVersion").Type)
	assert.Equal(t, spec.StringOrArray{"string"}, at(t, s, "kind").Type)
	assert.Equal(t, spec.StringOrArray{"string"}, at(t, s, "metadata.name").Type)
	assert.Equal(t, spec.StringOrArray{"string"}, at(t, s, "metadata.labels.{}").Type)
	assert.Equal(t, spec.StringOrArray{"string"}, at(t, s, "metadata.ownerReferences.[].uid").Type)
	// ... and to embedded resources.
	assert.Equal(t, spec.StringOrArray{"string"}, at(t, s, "spec.template.metadata.namespace").Type)
	assert.Equal(t, spec.StringOrArray{"string"}, at(t, s, "spec.template.kind").Type)

	// Every served version, with its own schema.
	beta, err := r.Resolve(schema.GroupVersionKind{Group: "example.korvid.dev", Version: "v1beta1", Kind: "Widget"})
	require.NoError(t, err)
	assert.Equal(t, spec.StringOrArray{"string"}, at(t, beta.Schema, "spec.size").Type)
	assert.Equal(t, spec.StringOrArray{"string"}, at(t, beta.Schema, "metadata.name").Type)

	_, err = r.Resolve(schema.GroupVersionKind{Group: "example.korvid.dev", Version: "v1alpha1", Kind: "Widget"})
	require.ErrorIs(t, err, graph.ErrKindNotFound, "a version that is not served")
	assert.Contains(t, err.Error(), "served versions: v1, v1beta1")

	gadget, err := r.Resolve(schema.GroupVersionKind{Group: "example.korvid.dev", Version: "v1", Kind: "Gadget"})
	require.NoError(t, err)
	assert.Equal(t, "gadgets", gadget.Resource)
	assert.False(t, gadget.Namespaced)
	assert.Equal(t, spec.StringOrArray{"string"}, at(t, gadget.Schema, "metadata.name").Type)

	// The CRD's CEL type has metadata.name.
	dt := common.SchemaDeclType(&celopenapi.Schema{Schema: widget.Schema}, false)
	require.NotNil(t, dt)
	meta, ok := dt.FindField("metadata")
	require.True(t, ok)
	_, ok = meta.Type.FindField("name")
	assert.True(t, ok, "metadata.name is a CEL field of a CRD kind")
}

func TestStaticAddCRDReplacesVersions(t *testing.T) {
	crd := func(versions ...string) *extv1.CustomResourceDefinition {
		c := &extv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: "things.example.com"},
			Spec: extv1.CustomResourceDefinitionSpec{
				Group: "example.com",
				Scope: extv1.ClusterScoped,
				Names: extv1.CustomResourceDefinitionNames{Kind: "Thing", Plural: "things"},
			},
		}
		for _, v := range versions {
			c.Spec.Versions = append(c.Spec.Versions, extv1.CustomResourceDefinitionVersion{Name: v, Served: true})
		}
		return c
	}
	r, err := resolver.NewStatic(crd("v1alpha1"))
	require.NoError(t, err)
	old := schema.GroupVersionKind{Group: "example.com", Version: "v1alpha1", Kind: "Thing"}
	k, err := r.Resolve(old)
	require.NoError(t, err)
	assert.Equal(t, spec.StringOrArray{"string"}, at(t, k.Schema, "metadata.name").Type, "a CRD without a schema still has metadata")

	require.NoError(t, r.AddCRD(crd("v1")))
	_, err = r.Resolve(old)
	require.ErrorIs(t, err, graph.ErrKindNotFound, "version dropped by the updated CRD")
	_, err = r.Resolve(old.GroupKind().WithVersion("v1"))
	require.NoError(t, err)
}

func TestStaticRejectsBadCRDs(t *testing.T) {
	valid := func() *extv1.CustomResourceDefinition {
		return &extv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: "things.example.com"},
			Spec: extv1.CustomResourceDefinitionSpec{
				Group:    "example.com",
				Scope:    extv1.NamespaceScoped,
				Names:    extv1.CustomResourceDefinitionNames{Kind: "Thing", Plural: "things"},
				Versions: []extv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true}},
			},
		}
	}
	tests := []struct {
		name    string
		mutate  func(*extv1.CustomResourceDefinition)
		message string
	}{
		{name: "no plural", mutate: func(c *extv1.CustomResourceDefinition) { c.Spec.Names.Plural = "" }, message: "spec.names.plural"},
		{name: "bad scope", mutate: func(c *extv1.CustomResourceDefinition) { c.Spec.Scope = "Galaxy" }, message: `spec.scope must be Namespaced or Cluster, found "Galaxy"`},
		{name: "nothing served", mutate: func(c *extv1.CustomResourceDefinition) { c.Spec.Versions[0].Served = false }, message: "serves no version"},
		{name: "non-structural schema", mutate: func(c *extv1.CustomResourceDefinition) {
			c.Spec.Versions[0].Schema = &extv1.CustomResourceValidation{OpenAPIV3Schema: &extv1.JSONSchemaProps{
				Type:       "object",
				Properties: map[string]extv1.JSONSchemaProps{"spec": {}},
			}}
		}, message: "spec.versions[0].schema.openAPIV3Schema: not a structural schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(c)
			_, err := resolver.NewStatic(c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.message)
		})
	}
	_, err := resolver.NewStatic(nil)
	require.Error(t, err)
}

func TestReadCRDs(t *testing.T) {
	tests := []struct {
		name  string
		input string
		names []string
		err   string
	}{
		{name: "empty", input: "", names: nil},
		{name: "comments only", input: "# nothing\n---\n# still nothing\n", names: nil},
		{name: "json", input: `{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"a.example.com"}}`, names: []string{"a.example.com"}},
		{name: "list", input: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apiextensions.k8s.io/v1\n  kind: CustomResourceDefinition\n  metadata: {name: b.example.com}\n- apiVersion: v1\n  kind: Secret\n", names: []string{"b.example.com"}},
		{name: "v1beta1", input: "apiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\n", err: `document 0: CustomResourceDefinition of apiVersion "apiextensions.k8s.io/v1beta1" is not supported`},
		{name: "broken yaml", input: "---\napiVersion: v1\n---\nkind: [\n", err: "document 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crds, err := resolver.ReadCRDs(strings.NewReader(tc.input))
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			var names []string
			for _, c := range crds {
				names = append(names, c.Name)
			}
			assert.Equal(t, tc.names, names)
		})
	}

	crds, err := resolver.ReadCRDFiles("testdata")
	require.NoError(t, err)
	require.Len(t, crds, 2, "a directory contributes its YAML files; the ConfigMap is skipped")
	_, err = resolver.ReadCRDFiles("testdata/missing.yaml")
	require.Error(t, err)
}

func TestStaticConcurrentResolve(t *testing.T) {
	r, err := resolver.NewStatic()
	require.NoError(t, err)
	gvks := []schema.GroupVersionKind{
		{Group: "apps", Version: "v1", Kind: "StatefulSet"},
		{Group: "batch", Version: "v1", Kind: "CronJob"},
		{Version: "v1", Kind: "Pod"},
		{Group: "example.com", Version: "v1", Kind: "Missing"},
	}
	var wg sync.WaitGroup
	results := make([][]*graph.ResolvedKind, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, gvk := range gvks {
				k, err := r.Resolve(gvk)
				if err != nil && !errors.Is(err, graph.ErrKindNotFound) {
					t.Error(err)
				}
				results[i] = append(results[i], k)
			}
		}()
	}
	wg.Wait()
	for i := range results {
		assert.Equal(t, results[0], results[i], "every caller gets the same shared schema")
	}
	assert.Nil(t, results[0][3])
}

func BenchmarkStaticResolveWarm(b *testing.B) {
	r, err := resolver.NewStatic()
	require.NoError(b, err)
	gvk := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	_, err = r.Resolve(gvk)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(gvk); err != nil {
			b.Fatal(err)
		}
	}
}
