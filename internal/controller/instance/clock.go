package instance

import (
	"sync/atomic"
	"time"
)

// clockRecheck is how soon an instance whose graph reads the wall clock
// (time.now() in an includeWhen, readyWhen, template or status expression)
// is evaluated again when no event arrives: the passing of time changes
// what such a graph renders, includes or finds ready, and nothing watches
// it.
const clockRecheck = 30 * time.Second

// recheck is clockRecheck, or what a test set with SetClockRecheck.
var recheck atomic.Int64

func init() { recheck.Store(int64(clockRecheck)) }

// SetClockRecheck changes how soon instances of clock-reading graphs are
// evaluated again, and returns a function restoring it. For tests.
func SetClockRecheck(d time.Duration) (restore func()) {
	old := recheck.Swap(int64(d))
	return func() { recheck.Store(old) }
}

// clockRecheckAfter is how soon an instance of a clock-reading graph is
// evaluated again after a pass with nothing else to come back for.
func clockRecheckAfter() time.Duration { return time.Duration(recheck.Load()) }
