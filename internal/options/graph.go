// Package options holds the command-line options of korvid's binaries as
// structs with AddFlags and Validate, so the webhook and the controller share
// the options that must agree (how RGDs are compiled) and tests can build
// the same configuration the binaries use.
package options

import (
	"errors"

	"github.com/spf13/pflag"

	"github.com/korvid/korvid/internal/graph"
)

// Graph holds the compile options. The webhook and the controller must run
// with the same values, or the webhook could accept an RGD the controller
// rejects.
type Graph struct {
	MaxExpressionCost uint64
	RuntimeCostLimit  uint64
	MaxCollectionSize int
}

// NewGraph returns the defaults.
func NewGraph() *Graph {
	d := graph.DefaultOptions()
	return &Graph{MaxExpressionCost: d.MaxExpressionCost, RuntimeCostLimit: d.RuntimeCostLimit, MaxCollectionSize: d.MaxCollectionSize}
}

// AddFlags registers the options.
func (o *Graph) AddFlags(fs *pflag.FlagSet) {
	fs.Uint64Var(&o.MaxExpressionCost, "max-expression-cost", o.MaxExpressionCost,
		"Largest estimated CEL cost one RGD expression may have; costlier expressions are rejected at compile time. 0 (the default, as in kro) rejects none: --runtime-cost-limit and the request or reconcile deadline bound every evaluation.")
	fs.Uint64Var(&o.RuntimeCostLimit, "runtime-cost-limit", o.RuntimeCostLimit,
		"Largest actual CEL cost of one evaluation.")
	fs.IntVar(&o.MaxCollectionSize, "max-collection-size", o.MaxCollectionSize,
		"Largest number of objects one forEach resource may expand to.")
}

// Validate checks the options.
func (o *Graph) Validate() error {
	var errs []error
	if o.RuntimeCostLimit == 0 {
		errs = append(errs, errors.New("--runtime-cost-limit must be positive"))
	}
	if o.MaxCollectionSize <= 0 {
		errs = append(errs, errors.New("--max-collection-size must be positive"))
	}
	return errors.Join(errs...)
}

// Options returns the compiler options.
func (o *Graph) Options() graph.Options {
	return graph.Options{MaxExpressionCost: o.MaxExpressionCost, RuntimeCostLimit: o.RuntimeCostLimit, MaxCollectionSize: o.MaxCollectionSize}
}
