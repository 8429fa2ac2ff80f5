package cellib

import (
	"testing"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/stretchr/testify/require"
)

func TestTimeNow(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)
	defer SetClock(func() time.Time { return at })()

	out, err := eval(t, `time.now()`, nil)
	require.NoError(t, err)
	require.Equal(t, types.Timestamp{Time: at.Truncate(time.Second)}, out, "whole seconds, UTC")

	out, err = eval(t, `string(time.now())`, nil)
	require.NoError(t, err)
	require.Equal(t, types.String("2026-03-04T05:06:07Z"), out, "RFC 3339 without fractions, as kro renders it")

	for expr, want := range map[string]bool{
		`time.now() >= timestamp("2026-01-01T00:00:00Z")`:                           true,
		`timestamp("2026-03-04T05:06:00Z") + duration("1m") <= time.now()`:          false,
		`time.now() - timestamp("2026-03-04T05:00:00Z") > duration("5m")`:           true,
		`timestamp("2030-01-01T00:00:00Z") - time.now() < duration("1h")`:           false,
		`timestamp(time.now()) == time.now()`:                                       true,
		`time.now().getFullYear() == 2026`:                                          true,
		`x <= time.now() && time.now() < timestamp("2030-01-01T00:00:00Z")`:         true,
		`time.now() >= timestamp("2026-03-04T05:06:07Z") + duration("1s") == false`: true,
	} {
		out, err := eval(t, expr, map[string]any{"x": types.Timestamp{Time: at.Add(-time.Hour)}})
		require.NoError(t, err, expr)
		require.Equal(t, types.Bool(want), out, expr)
	}

	restore := SetClock(func() time.Time { return at.Add(time.Minute) })
	out, err = eval(t, `string(time.now())`, nil)
	restore()
	require.NoError(t, err)
	require.Equal(t, types.String("2026-03-04T05:07:07Z"), out, "every evaluation reads the clock again")
}

func TestTimeNowIsRefusedWithArguments(t *testing.T) {
	_, err := eval(t, `time.now(1)`, nil)
	require.ErrorContains(t, err, "found no matching overload")
}

func TestCallsNow(t *testing.T) {
	env := dynEnv(t, "time")
	for expr, want := range map[string]bool{
		`time.now() > timestamp("2026-01-01T00:00:00Z")`: true,
		`string(time.now())`:                             true,
		`timestamp("2026-01-01T00:00:00Z")`:              false,
	} {
		ast, iss := env.Compile(expr)
		require.NoError(t, iss.Err(), expr)
		require.Equal(t, want, CallsFunction(ast, NowFunction), expr)
	}
}
