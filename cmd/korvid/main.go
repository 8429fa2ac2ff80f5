// Command korvid validates, renders, diffs and draws ResourceGraphDefinitions
// offline; installed as kubectl-korvid it is the kubectl plugin
// "kubectl korvid".
package main

import (
	"os"

	"github.com/korvid/korvid/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[0], os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
