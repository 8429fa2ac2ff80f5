package v1alpha1_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/test/envtest"
)

var env *envtest.Env

func TestMain(m *testing.M) { envtest.Main(m, envtest.Options{}, &env) }

func raw(s string) runtime.RawExtension { return runtime.RawExtension{Raw: []byte(s)} }

func validRGD(name string) *v1alpha1.ResourceGraphDefinition {
	return &v1alpha1.ResourceGraphDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.ResourceGraphDefinitionSpec{
			Schema: &v1alpha1.Schema{
				Kind:       "WebApp",
				APIVersion: "v1alpha1",
				Spec:       raw(`{"name":"string | required=true","replicas":"integer | default=1"}`),
				Status:     raw(`{"ready":"${deployment.status.availableReplicas}"}`),
			},
			Resources: []*v1alpha1.Resource{{
				ID:        "deployment",
				Template:  raw(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"${schema.spec.name}"}}`),
				ReadyWhen: []string{"${deployment.status.availableReplicas > 0}"},
			}},
		},
	}
}

func TestRGDCRDIsEstablished(t *testing.T) {
	crd := &extv1.CustomResourceDefinition{}
	require.NoError(t, env.Client.Get(context.Background(), client.ObjectKey{Name: "resourcegraphdefinitions.kro.run"}, crd))
	assert.Equal(t, extv1.ClusterScoped, crd.Spec.Scope)
	assert.Equal(t, []string{"rgd"}, crd.Spec.Names.ShortNames)
	var columns []string
	for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
		if c.Priority == 0 {
			columns = append(columns, c.Name)
		}
	}
	assert.Equal(t, []string{"APIVERSION", "KIND", "STATE", "READY", "AGE"}, columns)
}

func TestValidRGDIsAcceptedAndDefaulted(t *testing.T) {
	ctx := context.Background()
	rgd := validRGD("accepted")
	require.NoError(t, env.Client.Create(ctx, rgd))
	t.Cleanup(func() { _ = env.Client.Delete(ctx, rgd) })

	got := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(rgd), got))
	assert.Equal(t, "kro.run", got.Spec.Schema.Group, "group defaults to kro.run")
	assert.Equal(t, v1alpha1.ResourceScopeNamespaced, got.Spec.Schema.Scope, "scope defaults to Namespaced")
	assert.JSONEq(t, `{"name":"string | required=true","replicas":"integer | default=1"}`, string(got.Spec.Schema.Spec.Raw),
		"the SimpleSchema is kept as written")
}

func TestCRDRejectsInvalidRGDs(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*v1alpha1.ResourceGraphDefinition)
		message string
	}{
		{"lowercase kind", func(r *v1alpha1.ResourceGraphDefinition) { r.Spec.Schema.Kind = "webApp" },
			`spec.schema.kind: Invalid value: "webApp": spec.schema.kind in body should match '^[A-Z][a-zA-Z0-9]{0,62}$'`},
		{"bad apiVersion", func(r *v1alpha1.ResourceGraphDefinition) { r.Spec.Schema.APIVersion = "1.0" },
			`spec.schema.apiVersion in body should match`},
		{"bad id pattern", func(r *v1alpha1.ResourceGraphDefinition) { r.Spec.Resources[0].ID = "My-Deployment" },
			`spec.resources[0].id in body should match '^[a-z][a-zA-Z0-9]*$'`},
		{"template and externalRef", func(r *v1alpha1.ResourceGraphDefinition) {
			r.Spec.Resources[0].ExternalRef = &v1alpha1.ExternalRef{APIVersion: "v1", Kind: "ConfigMap", Metadata: v1alpha1.ExternalRefMetadata{Name: "cfg"}}
		}, "exactly one of template or externalRef must be set"},
		{"neither template nor externalRef", func(r *v1alpha1.ResourceGraphDefinition) { r.Spec.Resources[0].Template = runtime.RawExtension{} },
			"exactly one of template or externalRef must be set"},
		{"externalRef name and selector", func(r *v1alpha1.ResourceGraphDefinition) {
			r.Spec.Resources[0].Template = runtime.RawExtension{}
			r.Spec.Resources[0].ExternalRef = &v1alpha1.ExternalRef{APIVersion: "v1", Kind: "ConfigMap", Metadata: v1alpha1.ExternalRefMetadata{
				Name: "cfg", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}}}
		}, "exactly one of name or selector must be set"},
		{"duplicate ids", func(r *v1alpha1.ResourceGraphDefinition) {
			dup := *r.Spec.Resources[0]
			r.Spec.Resources = append(r.Spec.Resources, &dup)
		}, `spec.resources[1]: Duplicate value: {"id":"deployment"}`},
		{"bad scope", func(r *v1alpha1.ResourceGraphDefinition) { r.Spec.Schema.Scope = "Global" },
			`spec.schema.scope: Unsupported value: "Global"`},
		{"bad short name", func(r *v1alpha1.ResourceGraphDefinition) { r.Spec.Schema.ShortNames = []string{"Web_App"} },
			`spec.schema.shortNames[0] in body should match`},
		{"too many categories", func(r *v1alpha1.ResourceGraphDefinition) {
			for i := 0; i < 33; i++ {
				r.Spec.Schema.Categories = append(r.Spec.Schema.Categories, "c"+string(rune('a'+i%26))+string(rune('a'+i/26)))
			}
		}, "spec.schema.categories: Too many: 33: must have at most 32 items"},
		{"forEach with two iterators in one entry", func(r *v1alpha1.ResourceGraphDefinition) {
			r.Spec.Resources[0].ForEach = []v1alpha1.ForEachDimension{{"a": "${[1]}", "b": "${[2]}"}}
		}, "spec.resources[0].forEach[0]: Too many: 2: must have at most 1 item"},
		{"missing schema", func(r *v1alpha1.ResourceGraphDefinition) { r.Spec.Schema = nil },
			`spec.schema: Required value`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rgd := validRGD("invalid")
			tc.mutate(rgd)
			err := env.Client.Create(context.Background(), rgd)
			require.Error(t, err)
			assert.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
			assert.Contains(t, err.Error(), tc.message)
		})
	}
}

func TestCRDKeepsSchemaIdentityImmutable(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		mutate  func(*v1alpha1.ResourceGraphDefinition)
		message string
	}{
		{"kind", func(r *v1alpha1.ResourceGraphDefinition) { r.Spec.Schema.Kind = "OtherApp" }, "kind is immutable"},
		{"apiVersion", func(r *v1alpha1.ResourceGraphDefinition) { r.Spec.Schema.APIVersion = "v1beta1" }, "apiVersion is immutable"},
		{"group", func(r *v1alpha1.ResourceGraphDefinition) { r.Spec.Schema.Group = "example.com" }, "group is immutable"},
		{"scope", func(r *v1alpha1.ResourceGraphDefinition) { r.Spec.Schema.Scope = v1alpha1.ResourceScopeCluster }, "scope is immutable"},
	}
	rgd := validRGD("immutable")
	require.NoError(t, env.Client.Create(ctx, rgd))
	t.Cleanup(func() { _ = env.Client.Delete(ctx, rgd) })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			current := &v1alpha1.ResourceGraphDefinition{}
			require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(rgd), current))
			tc.mutate(current)
			err := env.Client.Update(ctx, current)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.message)
		})
	}

	// Other fields stay editable.
	current := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(rgd), current))
	current.Spec.Resources[0].ReadyWhen = nil
	require.NoError(t, env.Client.Update(ctx, current))
}
