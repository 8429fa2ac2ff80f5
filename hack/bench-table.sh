#!/usr/bin/env bash
# Formats `go test -bench` output as a table: benchmark, ns/op, B/op,
# allocs/op and any custom metrics (p50-ms, p99-ms, ...). Test failures and
# the package summary lines pass through unchanged.
set -euo pipefail
awk '
/^pkg: / { pkg = $2; next }
/^Benchmark/ {
  name = $1; sub(/-[0-9]+$/, "", name)
  row = sprintf("%-48s", substr(pkg, index(pkg, "internal/")) "." name)
  for (i = 3; i < NF; i += 2) row = row sprintf("  %12s %s", $i, $(i+1))
  print row; next
}
/^(ok|FAIL|---|panic)/ { print }
'
