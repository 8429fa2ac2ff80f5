#!/usr/bin/env bash
# Regenerates code and manifests and fails if that changed any file, so a
# hand edit of a generated file (or a stale one) cannot go unnoticed.
# usage: hack/verify-generated.sh <make targets that regenerate>...
set -euo pipefail
paths=(api deploy)
before="$(mktemp -d)"
trap 'rm -rf "$before"' EXIT
cp -a "${paths[@]}" "$before/"
make --no-print-directory "$@" >/dev/null
status=0
for p in "${paths[@]}"; do
  diff -ruN "$before/$p" "$p" || status=1
done
if [ "$status" -ne 0 ]; then
  echo "generated files were out of date (regenerated now; review and commit the diff above)" >&2
  exit 1
fi
echo "generated files are up to date"
