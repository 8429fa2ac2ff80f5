// Package cli implements korvid's command-line tool: validate, render, diff,
// crd, graph and version, run offline against RGD files with the compiler,
// options and schema resolver the admission webhook uses, so a pipeline gets
// the webhook's verdict before anything reaches a cluster.
//
// Every error about an RGD names its field path and, when the path can be
// traced in the YAML, the file, line and column of the offending value.
// Exit codes: 0 when everything is valid, 1 when an RGD is invalid (or a diff
// is breaking), 2 when the input itself is unusable (unreadable, not YAML,
// no RGD found) or the command line is wrong.
package cli
