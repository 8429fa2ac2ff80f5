package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newValidateCommand(s *streams) *cobra.Command {
	f := newCompileFlags()
	var output string
	cmd := &cobra.Command{
		Use:   "validate -f FILE|DIR ...",
		Short: "Compile RGDs as the admission webhook does and report every error with file:line:col",
		Long: `validate compiles every ResourceGraphDefinition found in the given files and
directories (multi-document YAML; directories recursively) with the compiler
and options of korvid's admission webhook. Kinds resolve from the embedded
built-in Kubernetes kinds plus --crds, or from a cluster with --kubeconfig;
an RGD may template the kind another RGD of the input generates.

Each error is printed as file:line:col: field.path: message. The exit code is
1 when any RGD is invalid, 2 when the input cannot be used.`,
		Example: `  korvid validate -f rgds/
  korvid validate -f rgds/ --crds vendor/crds/ -o github
  kubectl korvid validate -f app.yaml -o json`,
		Args: cobra.NoArgs,
	}
	checkOutput := outputFlag(cmd, &output, "text", "json", "github")
	f.addFlags(cmd.Flags(), true)
	registerCompileCompletions(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		if err := checkOutput(); err != nil {
			return err
		}
		res, err := f.resolver()
		if err != nil {
			return err
		}
		docs, err := readInputs(f.files, s.in)
		if err != nil {
			return err
		}
		results, err := compileDocuments(docs, res, f.graph.Options())
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := writeValidation(&b, output, results); err != nil {
			return err
		}
		if err := flush(s.out, &b); err != nil {
			return err
		}
		for _, r := range results {
			if len(r.diags) > 0 {
				return errInvalid
			}
		}
		return nil
	}
	return cmd
}

// rgdReport is one RGD in the JSON output.
type rgdReport struct {
	File   string       `json:"file"`
	Line   int          `json:"line"`
	Name   string       `json:"name"`
	Kind   string       `json:"kind,omitempty"`
	Valid  bool         `json:"valid"`
	Errors []Diagnostic `json:"errors"`
}

func writeValidation(w *bytes.Buffer, format string, results []*compiled) error {
	var errs []Diagnostic
	for _, r := range results {
		errs = append(errs, r.diags...)
	}
	sortDiagnostics(errs)
	switch format {
	case "json":
		out := struct {
			Valid bool         `json:"valid"`
			RGDs  []rgdReport  `json:"rgds"`
			Errs  []Diagnostic `json:"errors"`
		}{Valid: len(errs) == 0, RGDs: []rgdReport{}, Errs: errs}
		if out.Errs == nil {
			out.Errs = []Diagnostic{}
		}
		for _, r := range results {
			rep := rgdReport{File: r.doc.file, Line: r.doc.position("").Line, Name: r.doc.name, Valid: len(r.diags) == 0, Errors: r.diags}
			if rep.Errors == nil {
				rep.Errors = []Diagnostic{}
			}
			if r.graph != nil {
				rep.Kind = r.graph.Instance.GVK.String()
			}
			out.RGDs = append(out.RGDs, rep)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "github":
		for _, d := range errs {
			fmt.Fprintf(w, "::error file=%s,line=%d,col=%d,title=%s::%s\n",
				ghProperty(d.File), d.Line, d.Column, ghProperty("korvid: "+d.Field), ghData(d.Field+": "+d.Message))
		}
		fmt.Fprintln(w, summary(results, len(errs)))
		return nil
	default:
		for _, r := range results {
			if len(r.diags) == 0 {
				fmt.Fprintf(w, "%s:%d: ResourceGraphDefinition %q is valid (%s)\n",
					r.doc.file, r.doc.position("").Line, r.doc.name, r.graph.Instance.GVK.String())
			}
		}
		for _, d := range errs {
			fmt.Fprintln(w, d.String())
		}
		fmt.Fprintln(w, summary(results, len(errs)))
		return nil
	}
}

// String renders the diagnostic as file:line:col: field: message.
func (d Diagnostic) String() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s", d.File, d.Line, d.Column, d.Field, d.Message)
}

func summary(results []*compiled, nerr int) string {
	invalid := 0
	for _, r := range results {
		if len(r.diags) > 0 {
			invalid++
		}
	}
	return fmt.Sprintf("%d ResourceGraphDefinition(s) checked, %d invalid, %d error(s)", len(results), invalid, nerr)
}

// ghData escapes a GitHub Actions workflow command's message.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a GitHub Actions workflow command's property value.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
