package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitInvalid = 1 // an RGD is invalid, or a diff is breaking
	ExitInput   = 2 // the input or the command line is unusable
)

// errInvalid is returned by a command that printed its findings and must
// exit with ExitInvalid.
var errInvalid = errors.New("invalid")

// streams are where a command reads and writes. Commands compose their
// output in a buffer and write it with flush, so a failed write is reported
// once instead of being lost.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// flush writes b to w.
func flush(w io.Writer, b *bytes.Buffer) error {
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("writing the output: %w", err)
	}
	return nil
}

// Main runs the command line args (without the program name) and returns
// the exit code. progName is how the binary was invoked; as kubectl-korvid
// it presents itself as "kubectl korvid".
func Main(progName string, args []string, in io.Reader, out, errOut io.Writer) int {
	cmd := NewCommand(progName, in, out, errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errInvalid):
		return ExitInvalid
	default:
		var b bytes.Buffer
		fmt.Fprintf(&b, "error: %v\n", err)
		var ie *inputError
		if !errors.As(err, &ie) {
			fmt.Fprintf(&b, "Run '%s --help' for usage.\n", displayName(progName))
		}
		_ = flush(errOut, &b) // nowhere left to report a failure
		return ExitInput
	}
}

func displayName(progName string) string {
	base := filepath.Base(progName)
	if strings.HasPrefix(base, "kubectl-") {
		return "kubectl " + strings.TrimPrefix(base, "kubectl-")
	}
	return "korvid"
}

// NewCommand returns the root command with every subcommand.
func NewCommand(progName string, in io.Reader, out, errOut io.Writer) *cobra.Command {
	s := &streams{in: in, out: out, err: errOut}
	root := &cobra.Command{
		Use:   "korvid",
		Short: "Validate, render, diff and draw ResourceGraphDefinitions offline",
		Long: `korvid checks ResourceGraphDefinitions (kro.run/v1alpha1) the way korvid's
admission webhook does, without a cluster: the same compiler, the same options
and the embedded schemas of the built-in Kubernetes kinds (plus --crds).

Exit codes: 0 valid, 1 invalid (or a breaking diff), 2 unusable input.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: displayName(progName)},
	}
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	root.AddCommand(
		newValidateCommand(s),
		newRenderCommand(s),
		newDiffCommand(s),
		newCRDCommand(s),
		newGraphCommand(s),
		newVersionCommand(s),
	)
	return root
}

// fileCompletion completes YAML and JSON file names and directories.
func fileCompletion(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return []cobra.Completion{"yaml", "yml", "json"}, cobra.ShellCompDirectiveFilterFileExt
}

func registerCompileCompletions(cmd *cobra.Command) {
	for _, name := range []string{"filename", "instance"} {
		if cmd.Flags().Lookup(name) != nil {
			_ = cmd.RegisterFlagCompletionFunc(name, fileCompletion)
		}
	}
	_ = cmd.RegisterFlagCompletionFunc("crds", fileCompletion)
	_ = cmd.RegisterFlagCompletionFunc("kubeconfig", fileCompletion)
}

// outputFlag registers -o with the given formats and returns a validator.
func outputFlag(cmd *cobra.Command, target *string, formats ...string) func() error {
	cmd.Flags().StringVarP(target, "output", "o", formats[0], "Output format: "+strings.Join(formats, ", ")+".")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
	return func() error {
		for _, f := range formats {
			if *target == f {
				return nil
			}
		}
		return fmt.Errorf("--output %q is not supported; use one of %s", *target, strings.Join(formats, ", "))
	}
}
