package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/yaml"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/admission"
	"github.com/korvid/korvid/internal/graph/resolver"
	"github.com/korvid/korvid/internal/options"
	"github.com/korvid/korvid/internal/registry"
)

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	notYAML := writeFile(t, dir, "bad.yaml", "a: [1, 2\n")
	scalar := writeFile(t, dir, "scalar.yaml", "just a string\n")
	empty := writeFile(t, dir, "empty/none.txt", "not read: only YAML and JSON files are\n")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"valid examples", []string{"validate", "-f", "examples/"}, ExitOK, ""},
		{"broken example", []string{"validate", "-f", "examples/broken/"}, ExitInvalid, ""},
		{"not YAML", []string{"validate", "-f", notYAML}, ExitInput, "not valid YAML: yaml: line 1"},
		{"not an object", []string{"validate", "-f", scalar}, ExitInput, "a Kubernetes object must be a YAML mapping"},
		{"no RGD in the files", []string{"validate", "-f", "examples/webapp/instance.yaml"}, ExitInput, "no ResourceGraphDefinition"},
		{"no YAML file in the directory", []string{"validate", "-f", filepath.Dir(empty)}, ExitInput, "no ResourceGraphDefinition found"},
		{"missing file", []string{"validate", "-f", filepath.Join(dir, "missing.yaml")}, ExitInput, "no such file or directory"},
		{"no input", []string{"validate"}, ExitInput, "no input: give at least one file or directory with -f"},
		{"unknown flag", []string{"validate", "--nope"}, ExitInput, "unknown flag: --nope"},
		{"unknown output", []string{"validate", "-f", "examples/", "-o", "xml"}, ExitInput, `--output "xml" is not supported; use one of text, json, github`},
		{"bad compile option", []string{"validate", "-f", "examples/", "--max-collection-size", "0"}, ExitInput, "--max-collection-size must be positive"},
		{"unreadable --crds", []string{"validate", "-f", "examples/", "--crds", notYAML}, ExitInput, "reading --crds"},
		{"render without instance", []string{"render", "-f", "examples/webapp/rgd.yaml"}, ExitInput, `required flag(s) "instance" not set`},
		{"render of another kind", []string{"render", "-f", "examples/webapp/rgd.yaml", "-i", "examples/collection/instance.yaml"}, ExitInput, "the ResourceGraphDefinitions given generate kro.run/v1alpha1, Kind=WebApp"},
		{"render of an invalid RGD", []string{"render", "-f", "examples/broken/rgd.yaml", "-i", "examples/webapp/instance.yaml"}, ExitInvalid, "examples/broken/rgd.yaml:54:17: spec.resources[1].template.spec.ports[0].port"},
		{"crd of an invalid RGD", []string{"crd", "-f", "examples/broken/"}, ExitInvalid, "examples/broken/rgd.yaml:30:18: spec.resources[0].template.spec.replica"},
		{"diff with one file", []string{"diff", "testdata/cli/diff/old.yaml"}, ExitInput, "accepts 2 arg(s), received 1"},
		{"diff of a directory of several RGDs", []string{"diff", "examples/", "testdata/cli/diff/new.yaml"}, ExitInput, "diff compares one with one"},
		{"version", []string{"version"}, ExitOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args...)
			assert.Equal(t, tc.code, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			if tc.stderr != "" {
				assert.Contains(t, r.stderr, tc.stderr)
			} else {
				assert.Empty(t, r.stderr)
			}
			for _, s := range []string{r.stdout, r.stderr} {
				assert.NotContains(t, s, "goroutine ")
				assert.NotContains(t, s, "panic")
			}
		})
	}
}

var diagLine = regexp.MustCompile(`^(\S+):(\d+):(\d+): (\S+): (.+)$`)

// TestBrokenExamplePointsAtEachMistake checks that every error of the broken
// example names a line and column where the offending text is.
func TestBrokenExamplePointsAtEachMistake(t *testing.T) {
	r := run(t, "validate", "-f", "examples/broken/")
	require.Equal(t, ExitInvalid, r.code)
	src, err := os.ReadFile("examples/broken/rgd.yaml")
	require.NoError(t, err)
	lines := strings.Split(string(src), "\n")
	// The line each error must name, and the text its column points at.
	want := map[string][2]string{
		"spec.resources[0].template.spec.replica":       {"replica: 2", "2"},
		"spec.resources[1].template.spec.ports[0].port": {"- port: ${schema.spec.port}", "${schema.spec.port}"},
		"spec.resources[1].readyWhen[0]":                {"- ${deployment.status.readyReplicas > 0}", "${deployment.status.readyReplicas > 0}"},
		"spec.schema.status.endpoint":                   {"endpoint: ${databse.status.endpoint}", "${databse.status.endpoint}"},
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		m := diagLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		assert.Equal(t, "examples/broken/rgd.yaml", m[1])
		line, _ := strconv.Atoi(m[2])
		col, _ := strconv.Atoi(m[3])
		text, ok := want[m[4]]
		require.True(t, ok, "unexpected error %s", l)
		seen[m[4]] = true
		require.Less(t, line-1, len(lines))
		got := lines[line-1]
		assert.Equal(t, text[0], strings.TrimSpace(got), "line %d of %s", line, l)
		require.LessOrEqual(t, col, len(got))
		assert.Equal(t, text[1], got[col-1:], "column %d of %s", col, l)
	}
	assert.Len(t, seen, len(want), "errors reported:\n%s", r.stdout)
}

// brokenRGD has one broken expression; padding goes before the resource
// holding it, so its line moves.
const brokenRGD = `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: moving
spec:
  schema:
    apiVersion: v1alpha1
    kind: Moving
    spec:
      name: string
  resources:
%s  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}
      data:
        broken: ${schema.spec.nmae}
`

// TestReportedLineFollowsTheExpression moves a broken expression down a
// file, and into the second document of a multi-document file, and checks
// that the reported line and column move with it.
func TestReportedLineFollowsTheExpression(t *testing.T) {
	dir := t.TempDir()
	other := "  - id: other\n    template:\n      apiVersion: v1\n      kind: ConfigMap\n      metadata:\n        name: other-${schema.spec.name}\n"
	for _, tc := range []struct {
		name, content, path string
	}{
		{"in place", fmt.Sprintf(brokenRGD, ""), "spec.resources[0].template.data.broken"},
		{"after comments", fmt.Sprintf(brokenRGD, "  # one\n  # two\n  # three\n"), "spec.resources[0].template.data.broken"},
		{"after another resource", fmt.Sprintf(brokenRGD, other), "spec.resources[1].template.data.broken"},
		{"second document", strings.ReplaceAll(fmt.Sprintf(brokenRGD, ""), "${schema.spec.nmae}", "fine") + "---\n" +
			strings.ReplaceAll(fmt.Sprintf(brokenRGD, other), "name: moving", "name: moving-too"), "spec.resources[1].template.data.broken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml", tc.content)
			var wantLine, wantCol int
			for i, l := range strings.Split(tc.content, "\n") {
				if j := strings.Index(l, "${schema.spec.nmae}"); j >= 0 {
					wantLine, wantCol = i+1, j+1
				}
			}
			require.NotZero(t, wantLine)
			r := run(t, "validate", "-f", f)
			require.Equal(t, ExitInvalid, r.code, r.stdout+r.stderr)
			assert.Contains(t, r.stdout, fmt.Sprintf("%s:%d:%d: %s: ", f, wantLine, wantCol, tc.path))
			assert.Contains(t, r.stdout, "nmae")
		})
	}
}

// TestUnknownFieldsOfTheRGDAreErrors checks that a misspelt RGD field,
// which the API server refuses before the webhook sees the object, is
// reported at its line instead of being dropped.
func TestUnknownFieldsOfTheRGDAreErrors(t *testing.T) {
	src := strings.Replace(fmt.Sprintf(brokenRGD, ""), "${schema.spec.nmae}", "fine", 1)
	src = strings.Replace(src, "    template:\n", "    includeWhn:\n    - ${true}\n    template:\n", 1)
	f := writeFile(t, t.TempDir(), "rgd.yaml", src)
	r := run(t, "validate", "-f", f)
	require.Equal(t, ExitInvalid, r.code, r.stdout+r.stderr)
	assert.Contains(t, r.stdout, f+":13:5: spec.resources[0].includeWhn: unknown field")
}

func TestKubectlPluginName(t *testing.T) {
	var out, errOut strings.Builder
	code := Main("/usr/local/bin/kubectl-korvid", []string{"validate", "--help"}, strings.NewReader(""), &out, &errOut)
	require.Equal(t, ExitOK, code)
	assert.Contains(t, out.String(), "kubectl korvid validate -f FILE|DIR")
}

func TestShellCompletion(t *testing.T) {
	r := run(t, "completion", "bash")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "__start_korvid")
	r = run(t, "__complete", "graph", "-o", "")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, []string{"text", "dot", "mermaid", ":4"}, strings.Fields(r.stdout)[:4])
	r = run(t, "__complete", "v")
	assert.Contains(t, r.stdout, "validate\t")
	assert.Contains(t, r.stdout, "version\t")
}

// webhookValidator is the webhook's RGD validation with the resolver and
// options it would use offline: the static resolver with the corpus CRDs.
func webhookValidator(t *testing.T) *admission.RGDValidator {
	t.Helper()
	res, err := resolver.NewStaticFromFiles("testdata/crds")
	require.NoError(t, err)
	return &admission.RGDValidator{Registry: registry.New(res, options.NewGraph().Options(), nil, nil)}
}

// causes returns "field: message" for each cause of a webhook denial.
func causes(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return []string{}
	}
	var st apierrors.APIStatus
	require.True(t, errors.As(err, &st), "not an API status: %v", err)
	require.NotNil(t, st.Status().Details, "denial without details: %v", err)
	out := []string{}
	for _, c := range st.Status().Details.Causes {
		out = append(out, c.Field+": "+c.Message)
	}
	sort.Strings(out)
	return out
}

func loadRGD(t *testing.T, path string) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	rgd := &v1alpha1.ResourceGraphDefinition{}
	require.NoError(t, yaml.UnmarshalStrict(b, rgd))
	return rgd
}

// TestAgreesWithTheWebhookOnTheCorpus validates every corpus file with the
// CLI and with the webhook's RGD validator (defaulted first, as the
// API server calls the mutating webhook before the validating one) and
// requires the same errors at the same paths.
func TestAgreesWithTheWebhookOnTheCorpus(t *testing.T) {
	v := webhookValidator(t)
	var files []string
	for _, dir := range []string{"valid", "invalid"} {
		f, err := filepath.Glob(filepath.Join("testdata", "rgd", dir, "*.yaml"))
		require.NoError(t, err)
		require.NotEmpty(t, f)
		files = append(files, f...)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			rgd := loadRGD(t, f)
			rgd.DefaultSchema()
			_, err := v.ValidateCreate(context.Background(), rgd)
			want := causes(t, err)

			r := run(t, "validate", "-f", f, "--crds", "testdata/crds", "-o", "json")
			var rep struct {
				Valid  bool         `json:"valid"`
				Errors []Diagnostic `json:"errors"`
			}
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout+r.stderr)
			got := []string{}
			for _, d := range rep.Errors {
				got = append(got, d.Field+": "+d.Message)
				assert.Equal(t, f, d.File)
				assert.Positive(t, d.Line, "error without a line: %+v", d)
				assert.Positive(t, d.Column, "error without a column: %+v", d)
			}
			sort.Strings(got)
			assert.Equal(t, want, got)
			if strings.Contains(f, "invalid") {
				assert.Equal(t, ExitInvalid, r.code)
				assert.NotEmpty(t, got)
			} else {
				assert.Equal(t, ExitOK, r.code)
			}
		})
	}
}

// TestDiffJudgesLikeTheWebhook compares the CLI's breaking changes with the
// webhook's verdict on the same update.
func TestDiffJudgesLikeTheWebhook(t *testing.T) {
	v := webhookValidator(t)
	for _, tc := range []struct {
		newFile  string
		wantCode int
	}{
		{"testdata/cli/diff/new.yaml", ExitInvalid},
		{"testdata/cli/diff/new-allowed.yaml", ExitOK},
		{"testdata/cli/diff/old.yaml", ExitOK},
	} {
		t.Run(tc.newFile, func(t *testing.T) {
			old, rgd := loadRGD(t, "testdata/cli/diff/old.yaml"), loadRGD(t, tc.newFile)
			_, err := v.ValidateUpdate(context.Background(), old, rgd)
			want := causes(t, err)

			r := run(t, "diff", "testdata/cli/diff/old.yaml", tc.newFile, "-o", "json")
			require.Equal(t, tc.wantCode, r.code, r.stdout+r.stderr)
			var rep diffReport
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
			got := []string{}
			for _, c := range rep.Changes {
				if c.Breaking && !rep.Allowed {
					got = append(got, c.Field)
				}
			}
			for i, w := range want {
				want[i] = w[:strings.Index(w, ": ")]
			}
			sort.Strings(got)
			assert.Equal(t, want, got)
		})
	}
}

// TestValidateReadsStandardInput checks -f - and that its errors name
// <stdin> with the line in the piped text.
func TestValidateReadsStandardInput(t *testing.T) {
	src, err := os.ReadFile("examples/broken/rgd.yaml")
	require.NoError(t, err)
	var out, errOut strings.Builder
	code := Main("korvid", []string{"validate", "-f", "-"}, strings.NewReader(string(src)), &out, &errOut)
	require.Equal(t, ExitInvalid, code, errOut.String())
	assert.Contains(t, out.String(), "<stdin>:54:17: spec.resources[1].template.spec.ports[0].port: ")
}
