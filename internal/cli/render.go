package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/korvid/korvid/internal/admission"
	"github.com/korvid/korvid/internal/graph"
	"github.com/korvid/korvid/internal/registry"
)

func newRenderCommand(s *streams) *cobra.Command {
	f := newCompileFlags()
	var instanceFile string
	cmd := &cobra.Command{
		Use:   "render -f RGD -i INSTANCE",
		Short: "Print the objects an instance would create, in creation order",
		Long: `render evaluates a ResourceGraphDefinition against an instance of the kind it
generates, without a cluster, and prints as YAML the objects korvid would
create, in topological order (the order it creates them in). The instance
is first validated as the API server and korvid's instance webhook would
(errors at its file:line:col, exit code 1), and gets the defaults of the
generated schema.

includeWhen and forEach are applied. What depends only on the instance is
resolved; a field whose expression reads another resource (its status, say)
is left out and a comment says what it waits for. A resource whose
includeWhen or forEach waits for another resource is not rendered and a
comment says why. externalRefs are listed with what they read.

When -f holds several RGDs (e.g. one templating another's kind), the one
generating the instance's kind is rendered.`,
		Example: `  korvid render -f examples/webapp/rgd.yaml -i examples/webapp/instance.yaml`,
		Args:    cobra.NoArgs,
	}
	f.addFlags(cmd.Flags(), true)
	cmd.Flags().StringVarP(&instanceFile, "instance", "i", "", "The instance file (one object of the generated kind).")
	_ = cmd.MarkFlagRequired("instance")
	registerCompileCompletions(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		results, res, err := compileInputsWith(s, f)
		if err != nil {
			return err
		}
		inst, c, doc, err := readInstance(instanceFile, s.in, results)
		if err != nil {
			return err
		}
		if diags := checkInstance(c, doc, inst, res, f.graph.Options()); len(diags) > 0 {
			var b bytes.Buffer
			for _, d := range diags {
				fmt.Fprintln(&b, d.String())
			}
			if err := flush(s.err, &b); err != nil {
				return err
			}
			return errInvalid
		}
		var b, errs bytes.Buffer
		failures := renderGraph(&b, c, inst)
		if err := flush(s.out, &b); err != nil {
			return err
		}
		if len(failures) > 0 {
			for _, e := range failures {
				fmt.Fprintf(&errs, "%s: %v\n", instanceFile, e)
			}
			if err := flush(s.err, &errs); err != nil {
				return err
			}
			return errInvalid
		}
		return nil
	}
	return cmd
}

// readInstance reads the instance and picks the RGD generating its kind.
func readInstance(path string, in io.Reader, results []*compiled) (map[string]any, *compiled, *document, error) {
	docs, err := readInputs([]string{path}, in)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(docs) != 1 {
		return nil, nil, nil, inputErrorf("%s holds %d objects; render takes one instance", path, len(docs))
	}
	d := docs[0]
	var c *compiled
	var kinds []string
	for _, r := range results {
		kinds = append(kinds, r.graph.Instance.GVK.String())
		if r.graph.Instance.GVK == d.gvk {
			c = r
		}
	}
	if c == nil {
		return nil, nil, nil, inputErrorf("%s is a %s; the ResourceGraphDefinitions given generate %s", path, d.gvk.String(), strings.Join(kinds, ", "))
	}
	var obj map[string]any
	// utiljson keeps integers as int64, as CEL expects them.
	if err := utiljson.Unmarshal(d.json, &obj); err != nil {
		return nil, nil, nil, inputErrorf("%s: %w", path, err)
	}
	if err := applyDefaults(c.graph.CRD, obj); err != nil {
		return nil, nil, nil, err
	}
	if c.graph.Instance.Namespaced {
		u := unstructured.Unstructured{Object: obj}
		if u.GetNamespace() == "" {
			u.SetNamespace("default")
		}
	}
	return obj, c, d, nil
}

// checkInstance validates the instance as the API server and korvid's
// instance webhook would on create: against the generated CRD's schema,
// then with admission.CheckInstance (what the instance alone determines:
// includeWhen, collection sizes, names, rendered values against the target
// kinds' schemas). Errors are positioned in the instance file.
func checkInstance(c *compiled, doc *document, obj map[string]any, res *chainResolver, opts graph.Options) []Diagnostic {
	var errs field.ErrorList
	if v := c.graph.CRD.Spec.Versions[0].Schema; v != nil && v.OpenAPIV3Schema != nil {
		internal := &apiextensions.JSONSchemaProps{}
		if err := extv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.OpenAPIV3Schema, internal, nil); err == nil {
			if sv, _, err := apiservervalidation.NewSchemaValidator(internal); err == nil {
				errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, sv)...)
			}
		}
	}
	if len(errs) == 0 {
		ac, cerrs := registry.New(res, opts, nil, nil).Compile(c.rgd)
		if len(cerrs) > 0 {
			errs = append(errs, cerrs...)
		} else {
			ferrs, err := admission.CheckInstance(context.Background(), ac, obj)
			if err != nil {
				ferrs = append(ferrs, field.InternalError(field.NewPath("spec"), err))
			}
			errs = append(errs, ferrs...)
		}
	}
	diags := make([]Diagnostic, 0, len(errs))
	for _, e := range errs {
		diags = append(diags, doc.diagnostic(e.Field, string(e.Type), e.ErrorBody()))
	}
	sortDiagnostics(diags)
	return diags
}

// applyDefaults fills the defaults of the generated CRD's schema into obj,
// as the API server does when the instance is created.
func applyDefaults(crd *extv1.CustomResourceDefinition, obj map[string]any) error {
	if crd == nil || len(crd.Spec.Versions) == 0 || crd.Spec.Versions[0].Schema == nil || crd.Spec.Versions[0].Schema.OpenAPIV3Schema == nil {
		return nil
	}
	internal := &apiextensions.JSONSchemaProps{}
	if err := extv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(crd.Spec.Versions[0].Schema.OpenAPIV3Schema, internal, nil); err != nil {
		return fmt.Errorf("converting the generated schema: %w", err)
	}
	ss, err := structuralschema.NewStructural(internal)
	if err != nil {
		return fmt.Errorf("the generated schema is not structural: %w", err)
	}
	structuraldefaulting.Default(obj, ss)
	// Defaults decode as float64; the API server stores JSON, which reads
	// back with int64 integers.
	b, err := utiljson.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encoding the defaulted instance: %w", err)
	}
	clear(obj)
	return utiljson.Unmarshal(b, &obj)
}

// renderGraph writes the objects of the instance in topological order and
// returns the evaluation failures that waiting would not fix.
func renderGraph(w *bytes.Buffer, c *compiled, inst map[string]any) []error {
	ctx := context.Background() // offline: nothing to cancel but the process
	g := c.graph
	scope := graph.Scope{Instance: inst}
	var failures []error
	for i, n := range ordered(g) {
		res := c.rgd.Spec.Resources[n.Index]
		if i > 0 {
			fmt.Fprintln(w, "---")
		}
		fmt.Fprintf(w, "# %s (%s %s)", n.ID, n.GVK.GroupVersion().String(), nodeLabel(n))
		if len(n.Dependencies) > 0 {
			fmt.Fprintf(w, ", after %s", strings.Join(n.Dependencies, ", "))
		}
		fmt.Fprintln(w)
		for _, r := range res.ReadyWhen {
			fmt.Fprintf(w, "# ready when %s\n", r)
		}
		inc, err := n.Included(ctx, scope)
		switch {
		case errors.Is(err, graph.ErrPending):
			fmt.Fprintf(w, "# not rendered: includeWhen %s\n", describePending(err))
			continue
		case err != nil:
			failures = append(failures, err)
			fmt.Fprintf(w, "# not rendered: includeWhen fails: %v\n", err)
			continue
		case !inc:
			fmt.Fprintf(w, "# skipped: includeWhen is false (%s)\n", strings.Join(res.IncludeWhen, ", "))
			continue
		}
		if n.External {
			t, err := n.ResolveExternal(ctx, scope)
			switch {
			case errors.Is(err, graph.ErrPending):
				fmt.Fprintf(w, "# externalRef, read only: %s\n", describePending(err))
			case err != nil:
				failures = append(failures, err)
				fmt.Fprintf(w, "# externalRef fails: %v\n", err)
			default:
				fmt.Fprintf(w, "# externalRef, read only, never written: %s\n", describeTarget(t))
			}
			continue
		}
		var pending []error
		objs, err := n.Render(ctx, scope, graph.RenderOptions{Pending: &pending})
		if err != nil {
			failures = append(failures, err)
			fmt.Fprintf(w, "# not rendered: %v\n", err)
			continue
		}
		for _, p := range pending {
			fmt.Fprintf(w, "# left out, %s\n", describePending(p))
		}
		if objs == nil {
			fmt.Fprintln(w, "# forEach not expanded until then")
			continue
		}
		if n.Collection {
			fmt.Fprintf(w, "# forEach: %d object(s)\n", len(objs))
		}
		for j, o := range objs {
			if j > 0 {
				fmt.Fprintf(w, "---\n# %s[%d]\n", n.ID, j)
			}
			y, err := sigsyaml.Marshal(o.Object)
			if err != nil {
				failures = append(failures, fmt.Errorf("%s: encoding: %w", n.ID, err))
				continue
			}
			w.Write(y)
		}
	}
	return failures
}

func describePending(err error) string {
	var pe *graph.PendingError
	if errors.As(err, &pe) {
		return fmt.Sprintf("waits for %s: %s = ${%s}", pe.Waiting, pe.Path, pe.Expression)
	}
	return "waits: " + err.Error()
}

func describeTarget(t *graph.ExternalTarget) string {
	s := t.GVK.GroupVersion().String() + " " + t.GVK.Kind + " "
	if t.Namespace != "" {
		s += t.Namespace + "/"
	}
	if t.Name != "" {
		return s + t.Name
	}
	if t.Selector != nil {
		return s + "selector " + t.Selector.String()
	}
	return s
}
