package graph_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/korvid/korvid/internal/graph"
)

// compileErrs compiles an RGD that must fail and returns its error text.
func compileErrs(t *testing.T, src string) string {
	t.Helper()
	_, errs := graph.Compile(parseRGD(t, []byte(src)), testResolver(t), graph.DefaultOptions())
	require.NotEmpty(t, errs, "the RGD must be refused")
	return errs.ToAggregate().Error()
}

func instanceScope(observed map[string]any) graph.Scope {
	return graph.Scope{
		Instance: map[string]any{
			"apiVersion": "kro.run/v1alpha1", "kind": "X",
			"metadata": map[string]any{"name": "demo", "namespace": "team-a", "uid": "1234"},
			"spec":     map[string]any{},
		},
		Observed: observed,
	}
}

func TestNullComparisonOnPossiblyAbsentField(t *testing.T) {
	g := mustCompile(t, loadRGD(t, testdataDir+"/rgd/valid/job-example.yaml"))
	job := g.Node("job")
	for _, tc := range []struct {
		name   string
		status map[string]any
		ready  bool
	}{
		{"no completion time yet", map[string]any{"active": int64(1)}, false},
		{"explicit null", map[string]any{"completionTime": nil}, false},
		{"completed", map[string]any{"completionTime": "2025-01-01T00:00:00Z"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready, err := job.Ready(t.Context(), instanceScope(map[string]any{"job": map[string]any{"status": tc.status}}))
			require.NoError(t, err)
			require.Equal(t, tc.ready, ready)
		})
	}
}

func TestEqualsNullIsTrueForAbsentField(t *testing.T) {
	g := mustCompile(t, parseRGD(t, []byte(`apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: nulls
spec:
  schema:
    apiVersion: v1alpha1
    kind: Nulls
  resources:
  - id: job
    template:
      apiVersion: batch/v1
      kind: Job
      metadata:
        name: ${schema.metadata.name}
      spec:
        template:
          spec:
            restartPolicy: Never
            containers:
            - name: run
              image: busybox
    readyWhen:
    - ${null == job.status.failed}
`)))
	ready, err := g.Node("job").Ready(t.Context(), instanceScope(map[string]any{"job": map[string]any{"status": map[string]any{}}}))
	require.NoError(t, err)
	require.True(t, ready, "an absent field equals null")
	ready, err = g.Node("job").Ready(t.Context(), instanceScope(map[string]any{"job": map[string]any{"status": map[string]any{"failed": int64(1)}}}))
	require.NoError(t, err)
	require.False(t, ready)
}

const secretRGD = `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: secret-copy
spec:
  schema:
    apiVersion: v1alpha1
    kind: SecretCopy
    status:
      started: ${job.status.startTime < job.status.completionTime}
  resources:
  - id: secret
    externalRef:
      apiVersion: v1
      kind: Secret
      metadata:
        name: credentials
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
      data:
        password: ${string(secret.data.password)}
        length: ${string(size(secret.data.password))}
  - id: copy
    template:
      apiVersion: v1
      kind: Secret
      metadata:
        name: ${schema.metadata.name}-copy
      data:
        password: ${secret.data.password}
  - id: job
    template:
      apiVersion: batch/v1
      kind: Job
      metadata:
        name: ${schema.metadata.name}
      spec:
        template:
          spec:
            restartPolicy: Never
            containers:
            - name: run
              image: busybox
    readyWhen:
    - ${job.status.completionTime > timestamp("2020-01-01T00:00:00Z")}
`

func TestSchemaAwareValues(t *testing.T) {
	g := mustCompile(t, parseRGD(t, []byte(secretRGD)))
	enc := base64.StdEncoding.EncodeToString([]byte("s3cret"))
	s := instanceScope(map[string]any{"secret": map[string]any{"data": map[string]any{"password": enc}}})

	t.Run("format byte reads as the decoded bytes", func(t *testing.T) {
		objs, err := g.Node("config").Render(t.Context(), s, graph.RenderOptions{})
		require.NoError(t, err)
		require.Len(t, objs, 1)
		require.Equal(t, map[string]any{"password": "s3cret", "length": "6"}, objs[0].Object["data"])
	})
	t.Run("bytes written to a byte field are encoded again", func(t *testing.T) {
		objs, err := g.Node("copy").Render(t.Context(), s, graph.RenderOptions{})
		require.NoError(t, err)
		require.Equal(t, enc, objs[0].Object["data"].(map[string]any)["password"])
	})
	t.Run("the observed object is left as it was read", func(t *testing.T) {
		_, err := g.Node("config").Render(t.Context(), s, graph.RenderOptions{})
		require.NoError(t, err)
		require.Equal(t, map[string]any{"data": map[string]any{"password": enc}}, s.Observed["secret"])
	})
	t.Run("date-time reads as a timestamp", func(t *testing.T) {
		ready, err := g.Node("job").Ready(t.Context(), instanceScope(map[string]any{"job": map[string]any{"status": map[string]any{"completionTime": "2025-06-01T10:00:00Z"}}}))
		require.NoError(t, err)
		require.True(t, ready)
		ready, err = g.Node("job").Ready(t.Context(), instanceScope(map[string]any{"job": map[string]any{"status": map[string]any{"completionTime": "2019-06-01T10:00:00Z"}}}))
		require.NoError(t, err)
		require.False(t, ready)
	})
}

func TestReadyWhenAcceptsOptionalBool(t *testing.T) {
	g := mustCompile(t, parseRGD(t, []byte(`apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: optready
spec:
  schema:
    apiVersion: v1alpha1
    kind: OptReady
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
    readyWhen:
    - ${config.?data.?ready.optMap(v, v == "yes")}
`)))
	for _, tc := range []struct {
		obj   map[string]any
		ready bool
	}{
		{map[string]any{}, false},
		{map[string]any{"data": map[string]any{"ready": "no"}}, false},
		{map[string]any{"data": map[string]any{"ready": "yes"}}, true},
	} {
		ready, err := g.Node("config").Ready(t.Context(), instanceScope(map[string]any{"config": tc.obj}))
		require.NoError(t, err)
		require.Equal(t, tc.ready, ready, "%v", tc.obj)
	}
	msg := compileErrs(t, strings.Replace(`apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: optinclude
spec:
  schema:
    apiVersion: v1alpha1
    kind: OptInclude
  resources:
  - id: config
    includeWhen:
    - EXPR
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
`, "EXPR", `${optional.of(true)}`, 1))
	require.Contains(t, msg, "spec.resources[0].includeWhen[0]")
	require.Contains(t, msg, "must be a bool")
}

func TestOmitRefusedOnRequiredMetadata(t *testing.T) {
	msg := compileErrs(t, `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: omitname
spec:
  schema:
    apiVersion: v1alpha1
    kind: OmitName
    spec:
      name: string | default=""
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: '${schema.spec.name != "" ? schema.spec.name : omit()}'
`)
	require.Contains(t, msg, "spec.resources[0].template.metadata.name")
	require.Contains(t, msg, "omit() on metadata.name")

	msg = compileErrs(t, `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: omitns
spec:
  schema:
    apiVersion: v1alpha1
    kind: OmitNS
    scope: Cluster
    spec:
      ns: string | default=""
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: config
        namespace: '${schema.spec.ns != "" ? schema.spec.ns : omit()}'
`)
	require.Contains(t, msg, "spec.resources[0].template.metadata.namespace")
	require.Contains(t, msg, "omit() on metadata.namespace")
}

func TestInternalPrefixIsReserved(t *testing.T) {
	msg := compileErrs(t, `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: internal-prefix
spec:
  schema:
    apiVersion: v1alpha1
    kind: InternalPrefix
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: config
        labels:
          internal.kro.run/revision: "1"
`)
	require.Contains(t, msg, `spec.resources[0].template.metadata.labels[internal.kro.run/revision]`)
	require.Contains(t, msg, `"internal.kro.run/" prefix are reserved`)
}

func TestCustomConditionsCheckedAtCompileTime(t *testing.T) {
	base := `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: conds
spec:
  schema:
    apiVersion: v1alpha1
    kind: Conds
    status:
      conditions:
      - "${runtime.newCondition({type: 'Available', status: runtime.condition(config, 'Ready').status})}"
      - SECOND
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
`
	mustCompile(t, parseRGD(t, []byte(strings.Replace(base, "SECOND",
		`"${runtime.newCondition({type: 'Synced', status: runtime.condition(schema, 'ResourcesReady').status})}"`, 1))))

	msg := compileErrs(t, strings.Replace(base, "SECOND", `"${runtime.newCondition({type: 'Available', status: 'True'})}"`, 1))
	require.Contains(t, msg, "spec.schema.status.conditions[1]")
	require.Contains(t, msg, `condition type "Available" is already defined at spec.schema.status.conditions[0]`)

	msg = compileErrs(t, strings.Replace(base, "SECOND", `"${runtime.newCondition({type: 'Loop', status: runtime.condition(schema, 'Loop').status})}"`, 1))
	require.Contains(t, msg, "spec.schema.status.conditions[1]")
	require.Contains(t, msg, `condition "Loop" reads itself`)
}

// TestGeneratedCRDMatchesKro pins the parts of the generated CRD that kro's
// documentation and source fix, independently of the goldens.
func TestGeneratedCRDMatchesKro(t *testing.T) {
	g := mustCompile(t, loadRGD(t, testdataDir+"/rgd/valid/webapp.yaml"))
	v := g.CRD.Spec.Versions[0]
	type col struct{ name, typ, path, desc string }
	var cols []col
	for _, c := range v.AdditionalPrinterColumns {
		require.Zero(t, c.Priority)
		cols = append(cols, col{c.Name, c.Type, c.JSONPath, c.Description})
	}
	require.Equal(t, []col{
		{"State", "string", ".status.state", "The state of a ResourceGraphDefinition instance"},
		{"Ready", "string", `.status.conditions[?(@.type=="Ready")].status`, "Whether a ResourceGraphDefinition instance is ready"},
		{"Age", "date", ".metadata.creationTimestamp", "Age of the resource"},
	}, cols)
	status := v.Schema.OpenAPIV3Schema.Properties["status"]
	require.Equal(t, "string", status.Properties["state"].Type)
	item := status.Properties["conditions"].Items.Schema
	for _, k := range []string{"type", "status", "reason", "message", "lastTransitionTime"} {
		require.Equal(t, "string", item.Properties[k].Type, k)
		require.Empty(t, item.Properties[k].Format, k)
	}
	require.Equal(t, "integer", item.Properties["observedGeneration"].Type)
	require.NotNil(t, v.Subresources.Status)
	require.True(t, v.Served)
	require.True(t, v.Storage)
}

func TestValidationMarkerHasKrosMessage(t *testing.T) {
	g := mustCompile(t, parseRGD(t, []byte(`apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: validated
spec:
  schema:
    apiVersion: v1alpha1
    kind: Validated
    spec:
      port: integer | validation="self > 1024"
`)))
	rules := g.CRD.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["port"].XValidations
	require.Len(t, rules, 1)
	require.Equal(t, "self > 1024", rules[0].Rule)
	require.Equal(t, "validation failed", rules[0].Message)
}

func TestTwoResourcesRenderingTheSameObject(t *testing.T) {
	msg := compileErrs(t, `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: same-object
spec:
  schema:
    apiVersion: v1alpha1
    kind: SameObject
  resources:
  - id: first
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: shared
  - id: second
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: shared
`)
	require.Contains(t, msg, "spec.resources[1].template.metadata.name")
	require.Contains(t, msg, `resources "first" and "second" both render ConfigMap shared`)

	// Different namespaces are different objects.
	mustCompile(t, parseRGD(t, []byte(`apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: two-namespaces
spec:
  schema:
    apiVersion: v1alpha1
    kind: TwoNamespaces
  resources:
  - id: first
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: shared
        namespace: a
  - id: second
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: shared
        namespace: b
`)))
}
