package cli

import (
	"bytes"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/korvid/korvid/api/v1alpha1"
	"github.com/korvid/korvid/internal/version"
)

func newVersionCommand(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print korvid's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var b bytes.Buffer
			fmt.Fprintf(&b, "korvid %s (API %s, %s, %s/%s)\n",
				version.Version, v1alpha1.GroupVersion.String(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return flush(s.out, &b)
		},
	}
}
