#!/usr/bin/env bash
# Builds the binaries of a local Kubernetes control plane from source, through the
# Go module proxy only: kube-apiserver, kubectl (and, on request, kube-controller-manager
# and kube-scheduler) from k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3 and
# kwok from sigs.k8s.io/kwok. Each binary is built only when it is missing, so a second
# run is a no-op.
#
# usage: hack/build-control-plane.sh OUT_DIR [component ...]
#   components: kube-apiserver kubectl kube-controller-manager kube-scheduler etcd kwok
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.1}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"

out="${1:?usage: $0 OUT_DIR [component ...]}"
shift
components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kube-apiserver kubectl etcd)

mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$out/.src"

log() { printf '==> %s\n' "$*" >&2; }

# Modules built here are throwaway: keep them out of the caller's module and workspace.
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

kube_module() {
  local dir="$work/kubernetes-$KUBE_VERSION"
  if [ -f "$dir/.ready" ]; then echo "$dir"; return; fi
  log "preparing k8s.io/kubernetes $KUBE_VERSION module"
  mkdir -p "$dir"
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [ -f "$gomod" ] || { echo "cannot download k8s.io/kubernetes@$KUBE_VERSION" >&2; exit 1; }
  local staging="v0.${KUBE_VERSION#v1.}"
  {
    echo "module korvid.local/controlplane"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    # Every staging module k8s.io/kubernetes replaces with ./staging/src/... must be
    # replaced with its published version, or the build cannot resolve it.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#replace \1 => \1 '"$staging"'#p' "$gomod"
  } >"$dir/go.mod"
  cat >"$dir/tools.go" <<'GO'
//go:build tools

// Package tools pins the Kubernetes commands this module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$dir" && go mod tidy -e >&2)
  touch "$dir/.ready"
  echo "$dir"
}

etcd_module() {
  local dir="$work/etcd-$ETCD_VERSION"
  if [ -f "$dir/.ready" ]; then echo "$dir"; return; fi
  log "preparing go.etcd.io/etcd/server/v3 $ETCD_VERSION module"
  mkdir -p "$dir"
  printf 'module korvid.local/etcd\n\ngo 1.26\n' >"$dir/go.mod"
  cat >"$dir/main.go" <<'GO'
// Command etcd runs the etcd server.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2 && go mod tidy >&2)
  touch "$dir/.ready"
  echo "$dir"
}

for c in "${components[@]}"; do
  if [ -x "$out/$c" ]; then continue; fi
  case "$c" in
    kube-apiserver|kubectl|kube-controller-manager|kube-scheduler)
      dir="$(kube_module)"
      log "building $c $KUBE_VERSION"
      (cd "$dir" && go build -trimpath -ldflags=-s -o "$out/$c.tmp" "k8s.io/kubernetes/cmd/$c")
      ;;
    etcd)
      dir="$(etcd_module)"
      log "building etcd $ETCD_VERSION"
      (cd "$dir" && go build -trimpath -ldflags=-s -o "$out/$c.tmp" .)
      ;;
    kwok)
      log "building kwok $KWOK_VERSION"
      GOBIN="$out/.gobin" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
      mv "$out/.gobin/kwok" "$out/$c.tmp"
      ;;
    *) echo "unknown component $c" >&2; exit 2 ;;
  esac
  mv "$out/$c.tmp" "$out/$c"
done
