package admission

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/graph/resolver"
	"github.com/korvid/korvid/internal/registry"
	"github.com/korvid/korvid/test/envtest"
	"github.com/korvid/korvid/test/rgdtest"
)

var testdata = filepath.Join(envtest.RepoRoot(), "testdata")

// testResolver resolves kinds like production does: live, against the
// suite's API server, which serves the test CRDs of testdata/crds.
var testResolver = sync.OnceValues(func() (graph.SchemaResolver, error) {
	d, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		return nil, err
	}
	r := resolver.NewLive(d, resolver.WithMissTTL(0))
	// The API server publishes the OpenAPI documents of new CRDs a moment
	// after it serves them.
	deadline := time.Now().Add(30 * time.Second)
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "example.com", Version: "v1", Kind: "Database"}, {Group: "storage.example.com", Version: "v1alpha1", Kind: "Bucket"},
	} {
		for {
			_, err := r.Resolve(gvk)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return nil, err
			}
			r.InvalidateAll()
			time.Sleep(200 * time.Millisecond)
		}
	}
	return r, nil
})

func liveResolver(t testing.TB) graph.SchemaResolver {
	t.Helper()
	r, err := testResolver()
	require.NoError(t, err)
	return r
}

func parseRGD(t testing.TB, b []byte) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, yaml.Unmarshal(b, rgd))
	return rgd
}

func loadRGD(t testing.TB, path string) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return parseRGD(t, b)
}

// expectation is one error an invalid corpus file must produce.
type expectation struct{ path, message string }

func readExpectations(t testing.TB, path string) []expectation {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []expectation
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			break
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "#"))
		switch {
		case strings.HasPrefix(line, "path:"):
			out = append(out, expectation{path: strings.TrimSpace(strings.TrimPrefix(line, "path:"))})
		case strings.HasPrefix(line, "message:"):
			require.NotEmpty(t, out)
			out[len(out)-1].message = strings.TrimSpace(strings.TrimPrefix(line, "message:"))
		}
	}
	require.NotEmpty(t, out, "%s has no '# path:' lines", path)
	return out
}

func corpus(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testdata, "rgd", dir, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

// causes returns the field causes of an Invalid/Forbidden status error.
func causes(t testing.TB, err error) map[string][]string {
	t.Helper()
	var se apierrors.APIStatus
	require.ErrorAs(t, err, &se, "want an API status error, got %v", err)
	out := map[string][]string{}
	if d := se.Status().Details; d != nil {
		for _, c := range d.Causes {
			out[c.Field] = append(out[c.Field], c.Message)
		}
	}
	return out
}

func hasCause(c map[string][]string, path, fragment string) bool {
	for _, m := range c[path] {
		if strings.Contains(m, fragment) {
			return true
		}
	}
	return false
}

// mutate runs the RGD mutating handler on a create of rgd and returns the
// patched object.
func mutate(t *testing.T, d *RGDDefaulter, rgd *v1alpha1.ResourceGraphDefinition) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	raw, err := json.Marshal(rgd)
	require.NoError(t, err)
	obj, err := decodeObject(raw)
	require.NoError(t, err)
	// Absent schemaless fields are absent on the wire, not null.
	if s, ok := obj["spec"].(map[string]any)["schema"].(map[string]any); ok {
		for k, v := range s {
			if v == nil {
				delete(s, k)
			}
		}
	}
	raw, err = json.Marshal(obj)
	require.NoError(t, err)
	resp := d.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
	}})
	require.True(t, resp.Allowed, "%v", resp.Result)
	patch, err := json.Marshal(resp.Patches)
	require.NoError(t, err)
	p, err := jsonpatch.DecodePatch(patch)
	require.NoError(t, err)
	patched, err := p.Apply(raw)
	require.NoError(t, err)
	for _, op := range resp.Patches {
		require.NotNil(t, op.Value, "the patch %s %s sets no null", op.Operation, op.Path)
	}
	out := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, json.Unmarshal(patched, out))
	return out
}

func TestDefaultingThenValidationAcceptsValidCorpus(t *testing.T) {
	v := &RGDValidator{Registry: registry.New(liveResolver(t), graph.DefaultOptions(), nil, nil), MaxCollectionSize: 1000}
	for _, f := range corpus(t, "valid") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			rgd := loadRGD(t, f)
			wasScope := rgd.Spec.Schema.Scope
			rgd.Spec.Schema.Group = ""
			rgd = mutate(t, &RGDDefaulter{}, rgd)
			assert.Equal(t, "kro.run", rgd.Spec.Schema.Group)
			if wasScope == "" {
				assert.Equal(t, v1alpha1.ResourceScopeNamespaced, rgd.Spec.Schema.Scope)
			} else {
				assert.Equal(t, wasScope, rgd.Spec.Schema.Scope, "an explicit scope is kept")
			}
			_, err := v.ValidateCreate(context.Background(), rgd)
			require.NoError(t, err)
		})
	}
}

func TestValidationDeniesInvalidCorpusWithPaths(t *testing.T) {
	v := &RGDValidator{Registry: registry.New(liveResolver(t), graph.DefaultOptions(), nil, nil)}
	for _, f := range corpus(t, "invalid") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := v.ValidateCreate(context.Background(), loadRGD(t, f))
			require.Error(t, err)
			require.True(t, apierrors.IsInvalid(err), "want 422 Invalid, got %v", err)
			c := causes(t, err)
			for _, want := range readExpectations(t, f) {
				assert.True(t, hasCause(c, want.path, want.message), "want a cause at %s containing %q, got %v", want.path, want.message, c)
			}
		})
	}
}

func TestUnknownKindIsDeniedWithItsPath(t *testing.T) {
	v := &RGDValidator{Registry: registry.New(liveResolver(t), graph.DefaultOptions(), nil, nil)}
	rgd := parseRGD(t, []byte(`
metadata: {name: x}
spec:
  schema: {apiVersion: v1alpha1, kind: X, spec: {name: string}}
  resources:
  - id: a
    template: {apiVersion: nope.example.com/v1, kind: Nope, metadata: {name: a}}
  - id: b
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${schema.spec.nmae}"}}
`))
	_, err := v.ValidateCreate(context.Background(), rgd)
	c := causes(t, err)
	assert.Contains(t, c, "spec.resources[0].template.kind", "every error is reported, with its path: %v", c)
	assert.Contains(t, c, "spec.resources[1].template.metadata.name", "every error is reported, with its path: %v", c)
}

const widgetRGD = `
metadata: {name: widgets, uid: 3f6c1c44-0c7e-4f0e-9a55-000000000001, generation: 1}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Widget
    spec:
      name: string | required=true
      replicas: integer | default=1
      regions: "[]string"
      engine: string | default="postgres"
      users: "[]string"
      withDB: boolean | default=false
      divisor: integer | default=1
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}
      data:
        ratio: ${string(100 / schema.spec.divisor)}
  - id: perRegion
    forEach:
    - region: ${schema.spec.regions}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name + "-" + region}
  - id: db
    includeWhen:
    - ${schema.spec.withDB}
    template:
      apiVersion: example.com/v1
      kind: Database
      metadata:
        name: ${schema.spec.name + "-db"}
      spec:
        engine: ${schema.spec.engine}
        users: '${schema.spec.users.map(u, {"name": u})}'
  - id: deploy
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${config.metadata.name}
      spec:
        replicas: ${schema.spec.replicas}
        selector: {matchLabels: {app: x}}
        template:
          metadata: {labels: {app: x}}
          spec:
            containers: [{name: c, image: "${config.data.image}"}]
`

func compiled(t testing.TB, src string, opts graph.Options) *registry.Compiled {
	t.Helper()
	c, errs := registry.New(liveResolver(t), opts, nil, nil).Compile(parseRGD(t, []byte(src)))
	require.Empty(t, errs)
	return c
}

func instance(spec map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": "default"},
		"spec":     spec,
	}
}

func TestCheckInstance(t *testing.T) {
	opts := graph.DefaultOptions()
	opts.MaxCollectionSize = 3
	c := compiled(t, widgetRGD, opts)
	base := func() map[string]any {
		return map[string]any{"name": "shop", "replicas": int64(2), "regions": []any{"eu", "us"}, "engine": "postgres",
			"users": []any{"ann"}, "withDB": true, "divisor": int64(4)}
	}
	tests := []struct {
		name   string
		mutate func(map[string]any)
		// path and fragments of the expected error; empty path = valid.
		path      string
		fragments []string
	}{
		{name: "valid", mutate: func(map[string]any) {}},
		{name: "invalid rendered name", mutate: func(s map[string]any) { s["name"] = "Shop_1" },
			path: "spec.name", fragments: []string{`resource "config"`, "metadata.name", "RFC 1123"}},
		{name: "invalid name in a collection item", mutate: func(s map[string]any) { s["regions"] = []any{"eu", "US"} },
			path: "spec.name", fragments: []string{`resource "perRegion"`, "item 1"}},
		{name: "failing expression", mutate: func(s map[string]any) { s["divisor"] = int64(0) },
			path: "spec.divisor", fragments: []string{`resource "config"`, "100 / schema.spec.divisor", "division by zero"}},
		{name: "collection over the limit", mutate: func(s map[string]any) { s["regions"] = []any{"a", "b", "c", "d"} },
			path: "spec.regions", fragments: []string{`resource "perRegion"`, "more than 3 objects"}},
		{name: "rendered value outside the target enum", mutate: func(s map[string]any) { s["engine"] = "oracle" },
			path: "spec.engine", fragments: []string{`resource "db" (Database)`, "spec.engine", "postgres"}},
		{name: "rendered list over the target maxItems", mutate: func(s map[string]any) {
			users := make([]any, 21)
			for i := range users {
				users[i] = "u"
			}
			s["users"] = users
		}, path: "spec.users", fragments: []string{`resource "db"`, "at most 20"}},
		{name: "rendered integer beyond an int32 field", mutate: func(s map[string]any) { s["replicas"] = int64(1) << 40 },
			path: "spec.replicas", fragments: []string{`resource "deploy" (Deployment)`, "spec.replicas", "1099511627776", "32-bit"}},
		{name: "excluded resources are not checked", mutate: func(s map[string]any) { s["withDB"] = false; s["engine"] = "oracle" }},
		{name: "fields waiting for other resources are skipped", mutate: func(s map[string]any) { s["replicas"] = int64(0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := base()
			tt.mutate(spec)
			errs := checkInstance(t, c, instance(spec))
			if tt.path == "" {
				require.Empty(t, errs)
				return
			}
			require.NotEmpty(t, errs)
			found := false
			for _, e := range errs {
				if e.Field != tt.path {
					continue
				}
				ok := true
				for _, f := range tt.fragments {
					ok = ok && strings.Contains(e.Error(), f)
				}
				found = found || ok
			}
			assert.True(t, found, "want an error at %s containing %q, got %v", tt.path, tt.fragments, errs)
		})
	}
}

// A number beyond its field's format (here a CRD's format: float) is
// refused at admission, naming the instance field, as the API server would
// refuse the rendered object later.
func TestCheckInstanceRefusesANumberBeyondItsFieldsFormat(t *testing.T) {
	c := compiled(t, `
metadata: {name: shares, uid: 3f6c1c44-0c7e-4f0e-9a55-000000000003, generation: 1}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Share
    spec:
      share: float | default=0.5
  resources:
  - id: db
    template:
      apiVersion: example.com/v1
      kind: Database
      metadata:
        name: db
      spec:
        engine: postgres
        cpuShare: ${schema.spec.share}
`, graph.DefaultOptions())
	share := func(v float64) map[string]any {
		return map[string]any{"apiVersion": "kro.run/v1alpha1", "kind": "Share",
			"metadata": map[string]any{"name": "s", "namespace": "default"}, "spec": map[string]any{"share": v}}
	}
	assert.Empty(t, checkInstance(t, c, share(0.25)))
	errs := checkInstance(t, c, share(1e39))
	require.Len(t, errs, 1)
	assert.Equal(t, "spec.share", errs[0].Field)
	assert.Contains(t, errs[0].Error(), `resource "db" (Database): spec.cpuShare renders to an invalid value: 1e+39 does not fit the field's 32-bit floating-point number (format float)`)
}

func TestBreakingChangesNeedTheAnnotation(t *testing.T) {
	v := &RGDValidator{Registry: registry.New(liveResolver(t), graph.DefaultOptions(), nil, nil)}
	old := parseRGD(t, []byte(widgetRGD))
	changed := old.DeepCopy()
	changed.Generation = 2
	changed.Spec.Schema.Spec.Raw = []byte(`{"name":"string | required=true","replicas":"string","regions":"[]string","engine":"string | default=\"postgres\"","users":"[]string","withDB":"boolean | default=false","divisor":"integer | default=1"}`)
	changed.Spec.Resources = changed.Spec.Resources[:3] // deploy used replicas as an integer
	_, err := v.ValidateUpdate(context.Background(), old, changed)
	require.Error(t, err)
	c := causes(t, err)
	assert.True(t, hasCause(c, "spec.schema.spec.replicas", "type changed"), "got %v", c)
	assert.True(t, hasCause(c, "spec.schema.spec.replicas", v1alpha1.AnnotationAllowBreakingChanges), "the denial says how to allow it: %v", c)

	changed.Annotations = map[string]string{v1alpha1.AnnotationAllowBreakingChanges: "true"}
	warns, err := v.ValidateUpdate(context.Background(), old, changed)
	require.NoError(t, err)
	assert.True(t, containsFragment(warns, "spec.schema.spec.replicas"), "the allowed change is reported as a warning: %v", warns)

	// A change that only relaxes the schema is not breaking.
	relaxed := old.DeepCopy()
	relaxed.Spec.Schema.Spec.Raw = []byte(`{"name":"string | required=true","replicas":"integer | default=1","regions":"[]string","engine":"string | default=\"postgres\"","users":"[]string","withDB":"boolean | default=false","divisor":"integer | default=1","extra":"string"}`)
	_, err = v.ValidateUpdate(context.Background(), old, relaxed)
	require.NoError(t, err)
}

func containsFragment(list []string, fragment string) bool {
	for _, s := range list {
		if strings.Contains(s, fragment) {
			return true
		}
	}
	return false
}

func TestWarnings(t *testing.T) {
	c := compiled(t, widgetRGD, graph.DefaultOptions())
	w := warnings(c, 1000)
	assert.True(t, containsFragment(w, `spec.resources[3].readyWhen: Deployment "deploy" has no readyWhen`), "got %v", w)
	assert.True(t, containsFragment(w, `spec.resources[1].forEach[0][region]: collection "perRegion" iterates over spec.regions, which has no maxItems`), "got %v", w)
	assert.False(t, containsFragment(w, `"config"`), "a ConfigMap needs no readyWhen: %v", w)

	bounded := compiled(t, strings.Replace(widgetRGD, `regions: "[]string"`, `regions: "[]string | maxItems=5"`, 1), graph.DefaultOptions())
	assert.False(t, containsFragment(warnings(bounded, 1000), "maxItems"), "a bounded list needs no warning")
}

func TestCostlyExpressionWarns(t *testing.T) {
	rgd := rgdtest.New("costly", "Costly").Spec("text", "string").Spec("items", "[]integer").
		ConfigMap("cm", "costly", map[string]any{
			"size": `${string(schema.spec.items.map(x, schema.spec.text + "," + schema.spec.text).size())}`,
		}).Build()
	c, errs := registry.New(liveResolver(t), graph.DefaultOptions(), nil, nil).Compile(rgd)
	require.Empty(t, errs)
	w := warnings(c, 1000)
	assert.True(t, containsFragment(w, `spec.resources[0].template.data.size: the expression's estimated cost`), "got %v", w)
	assert.True(t, containsFragment(w, "above the runtime cost limit"), "got %v", w)
}

func testdataFile(parts ...string) string {
	return filepath.Join(append([]string{testdata}, parts...)...)
}

func TestGuardTurnsPanicsIntoDenials(t *testing.T) {
	h := guard(NewMetrics(), "Test", time.Second, admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		panic("boom")
	}))
	// The handler is served through admission.Webhook, whose RecoverPanic
	// (on by default) answers the panic.
	resp := (&admission.Webhook{Handler: h}).Handle(context.Background(), admission.Request{})
	assert.False(t, resp.Allowed)
	require.NotNil(t, resp.Result)
	assert.EqualValues(t, 500, resp.Result.Code)
	assert.Contains(t, resp.Result.Message, "recovered")
}

func TestGuardBoundsTheHandlersTime(t *testing.T) {
	h := guard(nil, "Test", 50*time.Millisecond, admission.HandlerFunc(func(ctx context.Context, _ admission.Request) admission.Response {
		_, err := bounded(ctx, func() int { time.Sleep(2 * time.Second); return 1 })
		if err != nil {
			return admission.Errored(500, err)
		}
		return admission.Allowed("")
	}))
	start := time.Now()
	resp := h.Handle(context.Background(), admission.Request{})
	assert.Less(t, time.Since(start), time.Second, "the deadline ends the request early")
	assert.False(t, resp.Allowed)
	assert.Contains(t, resp.Result.Message, "did not finish in time")
}

func TestInstanceField(t *testing.T) {
	for src, want := range map[string]string{
		"schema.spec.name":                           "spec.name",
		`schema.spec.name + "-" + region`:            "spec.name",
		`schema.spec.users.map(u, {"name": u})`:      "spec.users",
		"string(100 / schema.spec.divisor)":          "spec.divisor",
		"schema.metadata.namespace":                  "metadata.namespace",
		"config.metadata.name":                       "spec",
		"schema.spec.a.b.exists(x, x == 1)":          "spec.a.b",
		`"x-" + schema.spec.tier.lowerAscii() + "y"`: "spec.tier",
	} {
		assert.Equal(t, want, instanceField(src).String(), src)
	}
}

// Integer and string values both fit int-or-string fields such as a
// Service's targetPort, the way kro's own examples use them.
func TestCheckInstanceAcceptsIntOrString(t *testing.T) {
	c := compiled(t, `
metadata: {name: svc, uid: 3f6c1c44-0c7e-4f0e-9a55-000000000002, generation: 1}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Widget
    spec:
      port: integer | default=8080
      portName: string | default="http"
  resources:
  - id: byNumber
    template:
      apiVersion: v1
      kind: Service
      metadata: {name: by-number}
      spec:
        ports: [{port: 80, targetPort: "${schema.spec.port}"}]
  - id: byName
    template:
      apiVersion: v1
      kind: Service
      metadata: {name: by-name}
      spec:
        ports: [{port: 80, targetPort: "${schema.spec.portName}"}]
`, graph.DefaultOptions())
	errs := checkInstance(t, c, instance(map[string]any{"port": int64(8080), "portName": "http"}))
	assert.Empty(t, errs)
}

// checkInstance runs CheckInstance with the test's context, which does not
// end during the check.
func checkInstance(t testing.TB, c *registry.Compiled, obj map[string]any) field.ErrorList {
	t.Helper()
	errs, err := CheckInstance(t.Context(), c, obj)
	require.NoError(t, err)
	return errs
}
