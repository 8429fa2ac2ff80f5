package cli

import (
	"bytes"
	"fmt"

	"github.com/spf13/cobra"
	sigsyaml "sigs.k8s.io/yaml"
)

// compileInputs reads and compiles the inputs of f. When an RGD does not
// compile, its errors go to the error stream and errInvalid is returned:
// commands that print what an RGD generates need every RGD valid.
func compileInputs(s *streams, f *compileFlags) ([]*compiled, error) {
	results, _, err := compileInputsWith(s, f)
	return results, err
}

// compileInputsWith is compileInputs that also returns the resolver, which
// then knows the kinds the RGDs generate.
func compileInputsWith(s *streams, f *compileFlags) ([]*compiled, *chainResolver, error) {
	res, err := f.resolver()
	if err != nil {
		return nil, nil, err
	}
	docs, err := readInputs(f.files, s.in)
	if err != nil {
		return nil, nil, err
	}
	results, err := compileDocuments(docs, res, f.graph.Options())
	if err != nil {
		return nil, nil, err
	}
	var b bytes.Buffer
	for _, r := range results {
		for _, d := range r.diags {
			fmt.Fprintln(&b, d.String())
		}
	}
	if b.Len() > 0 {
		if err := flush(s.err, &b); err != nil {
			return nil, nil, err
		}
		return nil, nil, errInvalid
	}
	return results, res, nil
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
		var b bytes.Buffer
		for i, r := range results {
			y, err := sigsyaml.Marshal(r.graph.CRD)
			if err != nil {
				return fmt.Errorf("encoding the CRD of %q: %w", r.doc.name, err)
			}
			if i > 0 {
				b.WriteString("---\n")
			}
			b.Write(y)
		}
		return flush(s.out, &b)
	}
	return cmd
}
