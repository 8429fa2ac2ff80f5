// Package cellib assembles the CEL environment korvid's expressions run in:
// the cel-go extensions, the Kubernetes CEL libraries (the ones CRD
// validation rules may use), and kro's own functions (hash, json, random,
// map merging, list index mutation, omit() and the runtime condition
// helpers, and the wall clock, time.now()), each with a compile-time cost estimate and a runtime cost.
//
// The package does not declare variables: the compiler extends BaseEnv (or
// builds an env from EnvOptions) with its typed variables, checks expressions,
// estimates their cost with a CostEstimator, and creates programs with
// ProgramOptions. Results are turned into unstructured values with ToNative.
package cellib

import (
	"fmt"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
	"k8s.io/apiserver/pkg/cel/library"
)

// EnvOptions returns every library korvid's expressions may use, with their
// cost estimators, for cel.NewEnv or env.Extend. The slice is fresh on every
// call.
func EnvOptions() []cel.EnvOption {
	opts := []cel.EnvOption{
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.EagerlyValidateDeclarations(true),
		cel.OptionalTypes(),
		cel.ASTValidators(
			cel.ValidateDurationLiterals(),
			cel.ValidateTimestampLiterals(),
			cel.ValidateRegexLiterals(),
		),
		cel.CostEstimatorOptions(checker.PresenceTestHasCost(false)),

		// cel-go extensions.
		ext.TwoVarComprehensions(),
		ext.Lists(),
		ext.Strings(),
		ext.Bindings(),
		ext.Encoders(),
		ext.Math(),
		ext.Sets(),

		// Kubernetes libraries, as offered to CRD validation rules (minus
		// authorization checks, which need a request context).
		library.Lists(library.ListsVersion(1)),
		library.URLs(),
		library.Regex(),
		library.Quantity(),
		library.IP(),
		library.CIDR(),
		library.Format(),
		library.SemverLib(library.SemverVersion(1)),

		// kro's functions.
		cel.Lib(kroLib{}),
	}
	return append(opts, timeOptions()...)
}

// ProgramOptions returns the options every program must be created with: the
// runtime cost limit (an evaluation that exceeds it fails with an error
// saying so), cost tracking that knows the Kubernetes and kro functions, and
// periodic interrupt checks so a cancelled context stops comprehensions.
func ProgramOptions(costLimit uint64) []cel.ProgramOption {
	return []cel.ProgramOption{
		cel.EvalOptions(cel.OptOptimize, cel.OptTrackCost),
		cel.CostLimit(costLimit),
		cel.CostTracking(CostEstimator(nil)),
		cel.CostTrackerOptions(interpreter.PresenceTestHasCost(false)),
		cel.InterruptCheckFrequency(100),
	}
}

// UntrackedProgramOptions returns the options of a program whose
// estimated worst-case cost is within the runtime cost limit and that has
// no loop: the limit cannot stop it, so its cost is not tracked.
func UntrackedProgramOptions() []cel.ProgramOption {
	return []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
}

var (
	baseEnvOnce sync.Once
	baseEnv     *cel.Env
	baseEnvErr  error
)

// BaseEnv returns a shared environment built from EnvOptions and no
// variables. Building it takes milliseconds; extending it (env.Extend with
// variables and a type provider) is much cheaper, so callers should extend
// this one rather than build their own.
func BaseEnv() (*cel.Env, error) {
	baseEnvOnce.Do(func() {
		baseEnv, baseEnvErr = cel.NewEnv(EnvOptions()...)
		if baseEnvErr != nil {
			baseEnvErr = fmt.Errorf("building the base CEL environment: %w", baseEnvErr)
		}
	})
	return baseEnv, baseEnvErr
}

// Estimator estimates the cost of calls at compile time (checker.CostEstimator)
// and measures it at run time (interpreter.ActualCostEstimator) for the
// Kubernetes libraries and kro's functions.
type Estimator struct {
	k8s library.CostEstimator
}

var (
	_ checker.CostEstimator           = (*Estimator)(nil)
	_ interpreter.ActualCostEstimator = (*Estimator)(nil)
)

// CostEstimator returns an estimator for env.EstimateCost. sizes, when not
// nil, estimates the size of values the expression does not fix itself
// (variables, typically from their schema's maxLength/maxItems). Sizes it
// leaves open (or all, when sizes is nil) are bounded by the API server's
// request size limit, 3 MiB: no stored object holds a larger string, list or
// map.
func CostEstimator(sizes checker.CostEstimator) *Estimator {
	return &Estimator{k8s: library.CostEstimator{SizeEstimator: boundedSizes{sizes}}}
}

// EstimateSize implements checker.CostEstimator.
func (e *Estimator) EstimateSize(node checker.AstNode) *checker.SizeEstimate {
	return e.k8s.EstimateSize(node)
}

// boundedSizes falls back to unknownSize where the wrapped estimator has no
// answer.
type boundedSizes struct{ sizes checker.CostEstimator }

func (b boundedSizes) EstimateSize(node checker.AstNode) *checker.SizeEstimate {
	if b.sizes != nil {
		if sz := b.sizes.EstimateSize(node); sz != nil {
			return sz
		}
	}
	sz := unknownSize
	return &sz
}

func (b boundedSizes) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	if b.sizes != nil {
		return b.sizes.EstimateCallCost(function, overloadID, target, args)
	}
	return nil
}

// EstimateCallCost implements checker.CostEstimator.
func (e *Estimator) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	if c, ok := kroCosts[overloadID]; ok {
		return c.estimate(e, target, args)
	}
	return e.k8s.EstimateCallCost(function, overloadID, target, args)
}

// CallCost implements interpreter.ActualCostEstimator.
func (e *Estimator) CallCost(function, overloadID string, args []ref.Val, result ref.Val) *uint64 {
	if c, ok := kroCosts[overloadID]; ok {
		return c.track(args, result)
	}
	return e.k8s.CallCost(function, overloadID, args, result)
}
