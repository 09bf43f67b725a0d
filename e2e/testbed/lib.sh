# shellcheck shell=bash
# Shared settings for the kindstack test bed. Everything the test bed builds lives in a cache
# directory outside the repository, keyed by version, so a second run reuses it.

set -euo pipefail

TESTBED_DIR=${KINDSTACK_TESTBED_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kindstack-testbed}
K8S_VERSION=v1.33.13        # cgroup v1 host: kubelets >= 1.35 refuse it, so the test bed stays on 1.33
K8S_STAGING=v0.33.13        # the k8s.io/* staging modules that match K8S_VERSION
ETCD_VERSION=v3.5.24        # kubeadm 1.33.13 asks for etcd image 3.5.24-0
COREDNS_VERSION=v1.12.0     # kubeadm 1.33 default CoreDNS
METRICS_SERVER_VERSION=v0.9.0
GO_VERSION=$(go env GOVERSION)

# Builds are keyed by Go version too: a new toolchain produces a new cache entry, never a stale binary.
BIN_DIR=$TESTBED_DIR/bin/$GO_VERSION

log() { printf '[testbed %s] %s\n' "$(date +%T)" "$*" >&2; }

# debian_mirror prints the Debian mirror for debootstrap: $DEBIAN_MIRROR, else the first one apt is
# configured with (a missing /etc/apt/sources.list is normal with deb822 sources), else deb.debian.org.
debian_mirror() {
  local m
  m=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
    grep -v snapshot | head -1 | tr -d ' ' || true)
  echo "${DEBIAN_MIRROR:-${m:-http://deb.debian.org/debian}}"
}

# need_packages installs the Debian packages that provide the given commands, once.
# Arguments are command:package pairs.
need_packages() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "testbed: need root to install ${missing[*]} (apt-get)" >&2
    return 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- added for the kind test bed (setup.sh) -------------------------------------------------------
KIND_VERSION=v0.33.0        # the product's kind library; the node image takes its base files from this module
PAUSE_VERSION=3.10          # sandbox image of kind's containerd config and kubeadm 1.33
DEBIAN_SUITE=bookworm
# Bump NODE_IMAGE_REV whenever the node image recipe in setup.sh changes: it keys the cached archive.
NODE_IMAGE_REV=1
NODE_IMAGE=${KINDSTACK_NODE_IMAGE:-kindstack.test/kind-node:$K8S_VERSION}
# The node image's kube-proxy, kept in the engine and archived: the multi-node build starts from it.
KUBE_PROXY_IMAGE=registry.k8s.io/kube-proxy:$K8S_VERSION
KUBE_PROXY_ARCHIVE=$TESTBED_DIR/images/kube-proxy-$K8S_VERSION-r$NODE_IMAGE_REV.tar
METRICS_SERVER_IMAGE=kindstack.test/metrics-server:$METRICS_SERVER_VERSION
# Private Docker engine of the test bed (never the system one).
DOCKER_DIR=$TESTBED_DIR/docker
DOCKER_SOCK=$DOCKER_DIR/docker.sock
# Address pool of the private engine's networks (kind's "kind" network comes from it). Give a
# second test bed (another KINDSTACK_TESTBED_DIR) a different pool so their bridges don't clash.
DOCKER_ADDRESS_POOL=${KINDSTACK_DOCKER_ADDRESS_POOL:-172.31.0.0/16}
# Packages of the debootstrapped base rootfs (node image base; other images may reuse it).
BASE_PACKAGES=systemd,systemd-sysv,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,bash,ca-certificates,curl,jq,procps,containerd,runc,containernetworking-plugins,socat,ebtables,iputils-ping,hostname
BASE_ROOTFS_TARBALL=$TESTBED_DIR/rootfs/debian-$DEBIAN_SUITE-$(printf %s "$BASE_PACKAGES" | sha256sum | cut -c1-12).tar.zst

# docker_env points the docker CLI (and kind, which shells out to it) at the private engine, or
# at KINDSTACK_BUILD_DOCKER_HOST when internal/makerun/run.sh builds the offline images into the user's own
# Docker engine (the test tier never sets it).
docker_env() { export DOCKER_HOST=${KINDSTACK_BUILD_DOCKER_HOST:-unix://$DOCKER_SOCK}; }
# need_docker: the engine the build scripts use answers, or one line says what to run (named for
# the calling script).
need_docker() {
  docker_env
  docker version >/dev/null 2>&1 ||
    { echo "$(basename "$0"): private dockerd not answering at $DOCKER_SOCK (run e2e/testbed/setup.sh docker)" >&2; return 1; }
}

# base_rootfs_tarball prints the path of the debootstrapped Debian rootfs (tar.zst; run
# `setup.sh rootfs` first). Unpack with: zstd -dc "$(base_rootfs_tarball)" | tar -x -C DIR
base_rootfs_tarball() { printf '%s\n' "$BASE_ROOTFS_TARBALL"; }

# heavy runs a command under the team's lock for CPU-heavy builds (one at a time on 2 cores).
heavy() { flock /var/tmp/kindstack-heavy.lock "$@"; }

# --- added for traefik.sh (real Traefik and the Gateway API conformance suite) ---------------------
TRAEFIK_VERSION=v3.7.13     # also pinned in e2e/testbed/traefik/go.mod (traefik.sh mod regenerates it)
GATEWAY_API_VERSION=v1.6.1  # the suite paired with Traefik v3.7.13 (its go.mod); pinned in e2e/conformance/go.mod
TRAEFIK_IMAGE=kindstack.test/traefik:$TRAEFIK_VERSION

# stage NAME FUNC: runs FUNC, which may set RESULT to a short note; records the duration in
# SUMMARY (the caller prints it at the end) and in $TESTBED_DIR/timings.log.
SUMMARY=()
stage() {
  local name=$1 start
  shift
  RESULT=""
  start=$(date +%s)
  log "== $name"
  "$@"
  local line
  line=$(printf '%-12s %5ss  %s' "$name" "$(($(date +%s) - start))" "$RESULT")
  SUMMARY+=("$line")
  mkdir -p "$TESTBED_DIR"
  printf '%s %s\n' "$(date -Is)" "$line" >>"$TESTBED_DIR/timings.log"
}

# --- images the test bed builds (traefik.sh, registry.sh) ----------------------------------------
HASH_LABEL=dev.kindstack.testbed.source-hash

# image_label TAG: the image's source-hash label (empty when the image is missing).
image_label() { docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$1" 2>/dev/null || true; }

# scratch_image TAG HASH DOCKERFILE FILE...: a FROM scratch image of FILE..., labelled HASH, built
# with the legacy builder (offline, no buildx) unless the image already carries that label.
scratch_image() {
  local tag=$1 hash=$2 dockerfile=$3
  shift 3
  if [ "$(image_label "$tag")" = "$hash" ]; then
    return 1
  fi
  local ctx=$TESTBED_DIR/work/image-${tag//[\/:]/_} out
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$@" "$ctx/"
  printf '%s\n' "$dockerfile" >"$ctx/Dockerfile"
  out=$(DOCKER_BUILDKIT=0 docker build -q --label "$HASH_LABEL=$hash" -t "$tag" "$ctx" 2>&1) ||
    { printf '%s\n' "$out" >&2; rm -rf "$ctx"; exit 1; }
  rm -rf "$ctx"
  prune_ours
  log "built $tag"
}

# prune_ours: drop our own images that a rebuild or retag left untagged (no other image is touched).
prune_ours() {
  docker images -q --filter dangling=true --filter "label=$HASH_LABEL" | xargs -r docker rmi >/dev/null 2>&1 || true
}

# load_twice BIN IMAGE ARGS...: an engine check's `kindstack load` (ARGS name the cluster): the
# first imports IMAGE into the one node, the second finds it there. Otherwise kindstack's output
# and what went wrong go to stderr, and it returns 1.
load_twice() {
  local bin=$1 image=$2 out
  shift 2
  if ! out=$("$bin" load "$@" "$image" 2>&1) || [[ $out != *"1 loaded into 1 node(s)"* ]]; then
    printf '%s\nkindstack load %s did not load it\n' "$out" "$image" >&2
    return 1
  fi
  if ! out=$("$bin" load "$@" "$image" 2>&1) || [[ $out != *"1 already on every node"* ]]; then
    printf '%s\na second kindstack load of %s did not find it on the node\n' "$out" "$image" >&2
    return 1
  fi
}
