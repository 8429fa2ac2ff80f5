// Package version holds the version korvid stamps on the objects it manages.
package version

// Version is set at build time with -ldflags "-X github.com/korvid/korvid/internal/version.Version=...".
var Version = "v0.1.0-dev"
