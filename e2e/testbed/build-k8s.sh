#!/usr/bin/env bash
# Builds Kubernetes binaries from the k8s.io/kubernetes Go module (no registry, no git clone) into
# the test bed cache. Usage: build-k8s.sh [component ...]   (default: the control plane trio)
# A binary already in the cache is never rebuilt.
source "$(dirname "$0")/lib.sh"

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kube-apiserver kube-controller-manager kube-scheduler)

out=$BIN_DIR/kubernetes-$K8S_VERSION
missing() { todo=(); for c in "${components[@]}"; do [ -x "$out/$c" ] || todo+=("$c"); done; }
missing
[ ${#todo[@]} -eq 0 ] && exit 0

# Parallel test packages (or CI steps) may ask for the same binaries at once: one builds, the
# others wait for it and then find the binaries present.
mkdir -p "$TESTBED_DIR"
exec 9>"$TESTBED_DIR/.build-k8s.lock"
if ! flock -n 9; then
  log "another build of the Kubernetes binaries is running; waiting for it"
  flock 9
fi
missing
[ ${#todo[@]} -eq 0 ] && exit 0

need_packages jq:jq
mod=$TESTBED_DIR/src/kubernetes-$K8S_VERSION
mkdir -p "$mod" "$out"
cd "$mod"
if [ ! -f go.sum ]; then
  log "preparing wrapper module for k8s.io/kubernetes $K8S_VERSION"
  upstream=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | jq -r .GoMod)
  # k8s.io/kubernetes requires its staging repos as v0.0.0 and replaces them with local paths that do
  # not exist in the module zip; point each one at the published staging version instead.
  {
    printf 'module kindstack.test/k8sbins\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
    awk '$2 == "v0.0.0" { printf "\t%s => %s %s\n", $1, $1, staging }' staging="$K8S_STAGING" "$upstream"
    printf ')\n'
  } > go.mod
  cat > tools.go <<'GO'
//go:build tools

// Package tools records the commands' dependencies so go mod tidy keeps them.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubeadm/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
  go mod tidy
fi

minor=$(echo "$K8S_VERSION" | cut -d. -f2)
# Without these the binaries report v0.0.0 and kubeadm refuses to work with them.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
ldflags+=" -X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z"

for c in "${todo[@]}"; do
  start=$(date +%s)
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$c.tmp" "k8s.io/kubernetes/cmd/$c"
  mv "$out/$c.tmp" "$out/$c"
  log "built $c $K8S_VERSION in $(( $(date +%s) - start ))s"
done
