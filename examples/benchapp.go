package examples

import _ "embed" // BenchAppRGD

// BenchAppRGD is benchapp/rgd.yaml: the RGD `make bench` measures korvid
// with, and the controller's write-count test creates.
//
//go:embed benchapp/rgd.yaml
var BenchAppRGD string
