package cellib

import (
	"sync/atomic"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// NowFunction is the qualified name of kro's wall-clock function:
// `time.now()` returns the current time as a timestamp, so expressions can
// gate on it (`time.now() >= schema.metadata.creationTimestamp +
// duration("1m")`). Its result depends on when an expression runs, not only
// on its inputs: the compiler marks the expressions that call it (see
// CallsFunction), the admission webhook treats them as not determined by the
// spec, and the controller evaluates them again later.
const NowFunction = "time.now"

const overloadNow = "kro_time_now"

// clock is the source of time.now(); tests replace it with SetClock.
var clock atomic.Pointer[func() time.Time]

// SetClock makes time.now() read now instead of the wall clock, and returns
// a function restoring the previous clock. For tests.
func SetClock(now func() time.Time) (restore func()) {
	old := clock.Swap(&now)
	return func() { clock.Store(old) }
}

// Now returns the time time.now() evaluates to: the wall clock in UTC,
// truncated to whole seconds so that string(time.now()) renders as kro
// renders it (RFC 3339 without fractional seconds) and every call within the
// same second agrees.
func Now() time.Time {
	now := time.Now
	if f := clock.Load(); f != nil {
		now = *f
	}
	return now().UTC().Truncate(time.Second)
}

func timeOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function(NowFunction,
			cel.Overload(overloadNow, nil, cel.TimestampType,
				cel.FunctionBinding(func(...ref.Val) ref.Val {
					return types.Timestamp{Time: Now()}
				}))),
	}
}
