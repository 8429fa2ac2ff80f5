package controller_test

import (
	"os"

	"go.uber.org/zap/zapcore"
)

// zapLevel is the log level of the suite: errors only unless KORVID_TEST_LOG=debug.
func zapLevel() zapcore.Level {
	if os.Getenv("KORVID_TEST_LOG") == "debug" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}
