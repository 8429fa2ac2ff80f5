// Package version holds the version korvid stamps on the objects it manages
// (the kro.run/kro-version label, the ApplySet tooling annotation).
package version

import (
	"regexp"
	"runtime/debug"
	"strings"
)

// Version is set at build time by the Makefile and the Dockerfile with
// -ldflags "-X github.com/korvid/korvid/internal/version.Version=$(git describe --tags --always --dirty)".
// A build without it (go build, go install, go test) falls back to the
// version the Go toolchain stamped (a module version, or the VCS revision)
// and then to Fallback. The result is always a valid label value.
var Version string

// Fallback is the version of a build that carries no version information.
const Fallback = "v0.0.0-dev"

func init() { Version = resolve(Version, debug.ReadBuildInfo) }

// resolve returns the version: the one set at build time, else the main
// module's version or VCS revision from the build information, else
// Fallback; made a valid label value.
func resolve(set string, buildInfo func() (*debug.BuildInfo, bool)) string {
	if v := labelValue(set); v != "" {
		return v
	}
	info, ok := buildInfo()
	if !ok || info == nil {
		return Fallback
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		if v := labelValue(v); v != "" {
			return v
		}
	}
	var revision string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if revision == "" {
		return Fallback
	}
	if dirty {
		revision += "-dirty"
	}
	return labelValue(revision)
}

var invalidLabelChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// labelValue turns v into a valid label value: characters a label value may
// not hold become "-" (a Go "+dirty" suffix becomes "-dirty"), at most 63
// characters, starting and ending with a letter or digit.
func labelValue(v string) string {
	v = invalidLabelChars.ReplaceAllString(strings.TrimSpace(v), "-")
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.Trim(v, "-_.")
}
