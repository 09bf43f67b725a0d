#!/usr/bin/env bash
# Multi-node mode of the air-gapped test bed: a real CNI (flannel's vxlan backend) built from the
# Go module proxy, baked into a node image whose default CNI it is, so a kind cluster with workers
# gets pod networking across nodes offline. Cached under $TESTBED_DIR like the other builds (binaries
# keyed by Go version and a hash of the wrapper module; images by a hash label): a warm run does nothing.
#
# Usage: e2e/testbed/flannel.sh [subcommand ...]     (default: all)
#   binary      flanneld $FLANNEL_VERSION from the wrapper module e2e/testbed/flannel (its tencentvpc
#               SDK replaced by our stand-in), our CNI plugin kindstack-flannel and install-cni, and
#               the CNI plugins bridge, host-local, portmap, loopback $CNI_PLUGINS_VERSION
#               -> $BIN_DIR/flannel-$FLANNEL_VERSION-<hash>/
#   image       $FLANNEL_IMAGE: kube-proxy's image of the test bed (iptables, nft) + flanneld,
#               install-cni; archive $TESTBED_DIR/images/flannel-$FLANNEL_VERSION.tar
#   node-image  $FLANNEL_NODE_IMAGE: the test bed's node image without its static single-node CNI
#               config, with the CNI plugins in /opt/cni/bin, the flannel image imported into
#               containerd at boot, and flannel/kube-flannel.yaml as kind's default CNI manifest
#   paths       print FLANNEL_NODE_IMAGE=... (no work)
#   all         binary image node-image
# Needs the private dockerd and the single-node node image (`setup.sh docker node-image`).
source "$(dirname "$0")/lib.sh"
export GOTOOLCHAIN=local
HERE=$(cd "$(dirname "$0")" && pwd)

FLANNEL_VERSION=v0.28.10
CNI_PLUGINS_VERSION=v1.10.0
FLANNEL_MOD_DIR=$HERE/flannel
FLANNEL_IMAGE=kindstack.test/flannel:$FLANNEL_VERSION
FLANNEL_NODE_IMAGE=$NODE_IMAGE-flannel
FLANNEL_ARCHIVE=$TESTBED_DIR/images/flannel-$FLANNEL_VERSION.tar
CNI_PLUGINS=(main/bridge ipam/host-local meta/portmap main/loopback)

tree_hash() {
  (printf '%s %s\n' "$GO_VERSION" "$CNI_PLUGINS_VERSION" && cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}
SRC_HASH=$(tree_hash "$FLANNEL_MOD_DIR")
FLANNEL_BIN_DIR=$BIN_DIR/flannel-$FLANNEL_VERSION-$SRC_HASH

do_binary() {
  if [ -x "$FLANNEL_BIN_DIR/flanneld" ] && [ -x "$FLANNEL_BIN_DIR/loopback" ]; then
    RESULT="cached $FLANNEL_BIN_DIR"
    return 0
  fi
  local tmp=$FLANNEL_BIN_DIR.tmp p
  rm -rf "$tmp" && mkdir -p "$tmp"
  # flannel's udp backend is cgo: built static like upstream's release binaries.
  (cd "$FLANNEL_MOD_DIR" &&
    CGO_ENABLED=1 heavy go build -mod=readonly -trimpath -tags netgo,osusergo -o "$tmp/flanneld" \
      -ldflags "-s -w -linkmode external -extldflags -static -X github.com/flannel-io/flannel/pkg/version.Version=$FLANNEL_VERSION" \
      github.com/flannel-io/flannel &&
    CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags '-s -w' -o "$tmp/kindstack-flannel" ./cmd/flannel-cni &&
    CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags '-s -w' -o "$tmp/install-cni" ./cmd/install-cni)
  for p in "${CNI_PLUGINS[@]}"; do
    (cd / && CGO_ENABLED=0 GOBIN=$tmp heavy go install -trimpath -ldflags '-s -w' \
      "github.com/containernetworking/plugins/plugins/$p@$CNI_PLUGINS_VERSION")
  done
  rm -rf "$FLANNEL_BIN_DIR" && mv "$tmp" "$FLANNEL_BIN_DIR"
  # Builds of an older wrapper module are never used again.
  find "$BIN_DIR" -maxdepth 1 -name "flannel-$FLANNEL_VERSION-*" ! -path "$FLANNEL_BIN_DIR" -exec rm -rf {} +
  RESULT="built $FLANNEL_BIN_DIR ($(du -sh "$FLANNEL_BIN_DIR" | cut -f1))"
}

# build_image TAG HASH CTX: docker build of CTX (its Dockerfile) labelled HASH, unless TAG has it.
build_image() {
  local tag=$1 hash=$2 ctx=$3 out
  out=$(DOCKER_BUILDKIT=0 docker build -q --label "$HASH_LABEL=$hash" -t "$tag" "$ctx" 2>&1) ||
    { printf '%s\n' "$out" >&2; return 1; }
  prune_ours
}

do_image() {
  need_docker
  [ -x "$FLANNEL_BIN_DIR/flanneld" ] || { echo "flannel.sh: run flannel.sh binary first" >&2; return 1; }
  local base=$KUBE_PROXY_IMAGE hash
  docker image inspect "$base" >/dev/null 2>&1 || { echo "flannel.sh: $base missing (run setup.sh node-image)" >&2; return 1; }
  hash=$SRC_HASH-$(docker image inspect -f '{{.Id}}' "$base" | cut -c8-19)
  if [ "$(image_label "$FLANNEL_IMAGE")" = "$hash" ] && [ -f "$FLANNEL_ARCHIVE" ]; then
    RESULT="present: $FLANNEL_IMAGE"
    return 0
  fi
  # An engine that lost its data (the archives kept): the archive is this build if its label says so.
  if [ -f "$FLANNEL_ARCHIVE" ] && ! docker image inspect "$FLANNEL_IMAGE" >/dev/null 2>&1; then
    docker load -q -i "$FLANNEL_ARCHIVE" >/dev/null
    if [ "$(image_label "$FLANNEL_IMAGE")" = "$hash" ]; then
      RESULT="loaded $FLANNEL_IMAGE from $FLANNEL_ARCHIVE"
      return 0
    fi
  fi
  local ctx=$TESTBED_DIR/work/flannel-image
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$FLANNEL_BIN_DIR/flanneld" "$FLANNEL_BIN_DIR/install-cni" "$ctx/"
  printf 'FROM %s\nCOPY flanneld install-cni /usr/local/bin/\nENTRYPOINT ["/usr/local/bin/flanneld"]\n' "$base" >"$ctx/Dockerfile"
  build_image "$FLANNEL_IMAGE" "$hash" "$ctx"
  rm -rf "$ctx"
  mkdir -p "$(dirname "$FLANNEL_ARCHIVE")"
  docker save -o "$FLANNEL_ARCHIVE.tmp" "$FLANNEL_IMAGE" && mv "$FLANNEL_ARCHIVE.tmp" "$FLANNEL_ARCHIVE"
  RESULT="built $FLANNEL_IMAGE, archive $FLANNEL_ARCHIVE ($(du -h "$FLANNEL_ARCHIVE" | cut -f1))"
}

do_node_image() {
  need_docker
  [ -f "$FLANNEL_ARCHIVE" ] || { echo "flannel.sh: run flannel.sh image first" >&2; return 1; }
  docker image inspect "$NODE_IMAGE" >/dev/null 2>&1 || { echo "flannel.sh: $NODE_IMAGE missing (run setup.sh node-image)" >&2; return 1; }
  local hash
  hash=$SRC_HASH-$(docker image inspect -f '{{.Id}}' "$NODE_IMAGE" | cut -c8-19)-$(docker image inspect -f '{{.Id}}' "$FLANNEL_IMAGE" | cut -c8-19)
  if [ "$(image_label "$FLANNEL_NODE_IMAGE")" = "$hash" ]; then
    RESULT="present: $FLANNEL_NODE_IMAGE"
    return 0
  fi
  local ctx=$TESTBED_DIR/work/flannel-node-image p
  rm -rf "$ctx" && mkdir -p "$ctx/cni"
  for p in "${CNI_PLUGINS[@]}"; do cp "$FLANNEL_BIN_DIR/${p#*/}" "$ctx/cni/"; done
  cp "$FLANNEL_BIN_DIR/kindstack-flannel" "$ctx/cni/"
  cp "$FLANNEL_ARCHIVE" "$ctx/flannel.tar"
  cp "$FLANNEL_MOD_DIR/kube-flannel.yaml" "$FLANNEL_MOD_DIR/kindstack-testbed-images.service" "$ctx/"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $NODE_IMAGE
# No static CNI config: a node is Ready once flannel's DaemonSet has installed its config.
RUN rm -f /etc/cni/net.d/10-kindstack-bridge.conflist && \
    ln -s /etc/systemd/system/kindstack-testbed-images.service /etc/systemd/system/multi-user.target.wants/kindstack-testbed-images.service
COPY cni/ /opt/cni/bin/
COPY flannel.tar /kind/testbed-images/flannel.tar
COPY kindstack-testbed-images.service /etc/systemd/system/
COPY kube-flannel.yaml /kind/manifests/default-cni.yaml
DOCKERFILE
  build_image "$FLANNEL_NODE_IMAGE" "$hash" "$ctx"
  rm -rf "$ctx"
  RESULT="built $FLANNEL_NODE_IMAGE"
}

do_paths() {
  printf 'FLANNEL_NODE_IMAGE=%s\nFLANNEL_IMAGE=%s\n' "$FLANNEL_NODE_IMAGE" "$FLANNEL_IMAGE"
}

[ $# -gt 0 ] || set -- all
for cmd in "$@"; do
  case $cmd in
    binary) stage flannel-bin do_binary ;;
    image) stage flannel-img do_image ;;
    node-image) stage flannel-node do_node_image ;;
    paths) do_paths ;;
    all)
      stage flannel-bin do_binary
      stage flannel-img do_image
      stage flannel-node do_node_image
      ;;
    *) echo "usage: $0 [binary|image|node-image|paths|all] ..." >&2; exit 2 ;;
  esac
done
if [ ${#SUMMARY[@]} -gt 0 ]; then
  log "summary (also in $TESTBED_DIR/timings.log):"
  printf '  %s\n' "${SUMMARY[@]}" >&2
fi
