package examples_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/resolver"
	"github.com/korvid/korvid/internal/options"
)

// kroDefaultColumns are the printer columns kro gives a generated CRD when
// the RGD sets no additionalPrinterColumns.
var kroDefaultColumns = []extv1.CustomResourceColumnDefinition{
	{Name: "State", Description: "The state of a ResourceGraphDefinition instance", Type: "string", JSONPath: ".status.state"},
	{Name: "Ready", Description: "Whether a ResourceGraphDefinition instance is ready", Type: "string", JSONPath: `.status.conditions[?(@.type=="Ready")].status`},
	{Name: "Age", Description: "Age of the resource", Type: "date", JSONPath: ".metadata.creationTimestamp"},
}

// TestKroExamples compiles our rendition of every RGD of kro's
// examples/kubernetes that a cluster without cloud controllers serves, in
// the order they must be applied, and checks what kro generates for them:
// the CRD's names, printer columns and golden schema (testdata/golden/kro-compat,
// regenerate with UPDATE_GOLDEN=1), and that the instance's spec is accepted
// by the CRD's schema (its fields exist). examples/kro-compat/README.md says
// how each one behaves on make run.
func TestKroExamples(t *testing.T) {
	res, err := resolver.NewStatic()
	require.NoError(t, err)
	// The RGD's column, then the printColumn markers' by field path.
	appColumns := []extv1.CustomResourceColumnDefinition{
		{Name: "Available replicas", Type: "integer", JSONPath: ".status.availableReplicas"},
		{Name: "IMAGE", Type: "string", JSONPath: ".spec.image"},
		{Name: "ENABLED", Type: "boolean", JSONPath: ".spec.ingress.enabled"},
	}
	for _, tc := range []struct {
		rgd, instance string
		crdName       string
		columns       []extv1.CustomResourceColumnDefinition
		usesClock     bool
	}{
		{rgd: "additional-printer-columns/rgd.yaml", instance: "additional-printer-columns/instance.yaml", crdName: "applications.kro.run", columns: appColumns},
		{rgd: "cel-functions/rgd.yaml", instance: "cel-functions/instance.yaml", crdName: "somethings.kro.run"},
		{rgd: "configmap-checksum-restart/rgd.yaml", instance: "configmap-checksum-restart/instance.yaml", crdName: "configmapchecksumrestarts.kro.run"},
		{rgd: "core-dns/rgd.yaml", instance: "core-dns/instance.yaml", crdName: "corednsdeployments.kro.run"},
		{rgd: "defaults/rgd.yaml", instance: "defaults/instance.yaml", crdName: "defaulteds.kro.run"},
		{rgd: "dogsvscats-result-app/rgd.yaml", instance: "dogsvscats-result-app/instance.yaml", crdName: "resultapps.kro.run"},
		{rgd: "job-example/rgd.yaml", instance: "job-example/instance.yaml", crdName: "jobdeployments.kro.run"},
		{rgd: "recursive-custom-types/rgd.yaml", instance: "recursive-custom-types/instance.yaml", crdName: "companyconfigs.kro.run"},
		{rgd: "saas-multi-tenant/tenant-environment-rgd.yaml", crdName: "tenantenvironments.kro.run"},
		{rgd: "saas-multi-tenant/tenant-application-rgd.yaml", crdName: "tenantapplications.kro.run"},
		{rgd: "saas-multi-tenant/tenant-rgd.yaml", instance: "saas-multi-tenant/instance.yaml", crdName: "tenants.kro.run"},
		{rgd: "simple-deployment/rgd.yaml", instance: "simple-deployment/instance.yaml", crdName: "simpledeployments.kro.run"},
		{rgd: "time-gates/rgd.yaml", instance: "time-gates/instance.yaml", crdName: "timegates.kro.run", usesClock: true},
		{rgd: "webapp/rgd.yaml", instance: "webapp/instance.yaml", crdName: "webapps.kro.run"},
	} {
		t.Run(strings.TrimSuffix(tc.rgd, ".yaml"), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("kro-compat", tc.rgd))
			require.NoError(t, err)
			rgd := &v1alpha1.ResourceGraphDefinition{}
			require.NoError(t, yaml.UnmarshalStrict(b, rgd))
			// The flags' defaults, as both binaries run: every example
			// compiles (recursive-custom-types' expressions have estimated
			// costs above the runtime cost limit; like kro, korvid refuses
			// no expression for its estimate).
			g, errs := graph.Compile(rgd, res, options.NewGraph().Options())
			require.Empty(t, errs, "compile errors: %v", errs)
			require.Equal(t, tc.crdName, g.CRD.Name)
			want := tc.columns
			if want == nil {
				want = kroDefaultColumns
			}
			assert.Equal(t, want, g.CRD.Spec.Versions[0].AdditionalPrinterColumns)
			assert.Equal(t, tc.usesClock, g.UsesClock)
			require.NoError(t, res.AddCRD(g.CRD))

			got, err := yaml.Marshal(g.CRD)
			require.NoError(t, err)
			golden := filepath.Join("..", "testdata", "golden", "kro-compat", strings.ReplaceAll(strings.TrimSuffix(tc.rgd, ".yaml"), "/", "-")+".crd.yaml")
			if os.Getenv("UPDATE_GOLDEN") != "" {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			} else {
				wantCRD, err := os.ReadFile(golden)
				require.NoError(t, err, "missing golden file; run with UPDATE_GOLDEN=1")
				require.Equal(t, strings.TrimSpace(string(wantCRD)), strings.TrimSpace(string(got)))
			}

			if tc.instance == "" {
				return
			}
			ib, err := os.ReadFile(filepath.Join("kro-compat", tc.instance))
			require.NoError(t, err)
			inst := &unstructured.Unstructured{}
			require.NoError(t, yaml.Unmarshal(ib, &inst.Object))
			require.Equal(t, g.Instance.GVK, inst.GroupVersionKind())
			spec, _, _ := unstructured.NestedMap(inst.Object, "spec")
			assertFieldsExist(t, g.CRD.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"], spec, "spec")
		})
	}
}

// assertFieldsExist checks that every field of v is declared by s.
func assertFieldsExist(t *testing.T, s extv1.JSONSchemaProps, v any, path string) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			switch {
			case s.Properties != nil:
				p, ok := s.Properties[k]
				if assert.True(t, ok, "%s.%s is not in the schema", path, k) {
					assertFieldsExist(t, p, e, path+"."+k)
				}
			case s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil:
				assertFieldsExist(t, *s.AdditionalProperties.Schema, e, path+"."+k)
			}
		}
	case []any:
		if s.Items != nil && s.Items.Schema != nil {
			for _, e := range v {
				assertFieldsExist(t, *s.Items.Schema, e, path+"[]")
			}
		}
	}
}
