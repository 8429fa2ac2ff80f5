package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	sigsyaml "sigs.k8s.io/yaml"
)

// compileInputs reads and compiles the inputs of f. When an RGD does not
// compile, its errors go to the error stream and errInvalid is returned:
// commands that print what an RGD generates need every RGD valid.
func compileInputs(s *streams, f *compileFlags) ([]*compiled, error) {
	res, err := f.resolver()
	if err != nil {
		return nil, err
	}
	docs, err := readInputs(f.files, s.in)
	if err != nil {
		return nil, err
	}
	results, err := compileDocuments(docs, res, f.graph.Options())
	if err != nil {
		return nil, err
	}
	invalid := false
	for _, r := range results {
		for _, d := range r.diags {
			fmt.Fprintln(s.err, d.String())
			invalid = true
		}
	}
	if invalid {
		return nil, errInvalid
	}
	return results, nil
}

func newCRDCommand(s *streams) *cobra.Command {
	f := newCompileFlags()
	cmd := &cobra.Command{
		Use:   "crd -f FILE|DIR ...",
		Short: "Print the CustomResourceDefinition each RGD generates",
		Long: `crd prints, as YAML, the CustomResourceDefinition korvid would install for each
ResourceGraphDefinition of the input (one document each, in input order).`,
		Example: `  korvid crd -f examples/webapp/rgd.yaml`,
		Args:    cobra.NoArgs,
	}
	f.addFlags(cmd.Flags(), true)
	registerCompileCompletions(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		results, err := compileInputs(s, f)
		if err != nil {
			return err
		}
		for i, r := range results {
			b, err := sigsyaml.Marshal(r.graph.CRD)
			if err != nil {
				return fmt.Errorf("encoding the CRD of %q: %w", r.doc.name, err)
			}
			if i > 0 {
				fmt.Fprintln(s.out, "---")
			}
			fmt.Fprint(s.out, string(b))
		}
		return nil
	}
	return cmd
}
