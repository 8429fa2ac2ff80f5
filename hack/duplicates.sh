#!/usr/bin/env bash
# Lists the places in korvid's production code (no tests, generated code or
# testdata) that share six or more lines, with the `duplicates` command.
set -euo pipefail
command -v duplicates >/dev/null || { echo "duplicates is not on PATH" >&2; exit 1; }
root=$(git rev-parse --show-toplevel)
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
cd "$root"
git ls-files --cached --others --exclude-standard -- '*.go' Makefile '*.sh' |
	grep -v -e '_test\.go$' -e 'zz_generated' -e '\(^\|/\)testdata/' |
	while read -r f; do
		[ -f "$f" ] || continue
		mkdir -p "$tree/$(dirname "$f")"
		case "$f" in
		*.go)
			# duplicates passes over import lines, but does not know Go's
			# grouped imports: they are blanked (line numbers stay).
			awk '/^import \($/ { print ""; inimport = 1; next }
				inimport && /^\)$/ { print ""; inimport = 0; next }
				inimport || /^import / { print ""; next }
				{ print }' "$f" >"$tree/$f" ;;
		*) cp "$f" "$tree/$f" ;;
		esac
	done
cd "$tree"
duplicates --most 200 --seconds 120 "$@"
