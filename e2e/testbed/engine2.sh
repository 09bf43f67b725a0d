#!/usr/bin/env bash
# A second container engine for the test bed: a current Docker Engine (dockerd of moby v2, built
# from its Go module) with the containerd image store (features.containerd-snapshotter), which
# fresh installs of Docker Engine 29+ and Docker Desktop 4.34+ use by default. Debian's docker.io
# (the test bed's own engine, setup.sh) is 20.10 and only has the classic store.
#
# Usage: e2e/testbed/engine2.sh [subcommand ...]     (default: all)
#   build     dockerd + docker-proxy (github.com/moby/moby/v2) and runc, cached under $BIN_DIR
#   start     its own containerd (Debian's binary) and dockerd under $ENGINE2_DIR, unless it answers
#   stop      stop that dockerd and containerd (by their pidfiles; kind clusters in it stop too)
#   remove    stop it and delete $ENGINE2_DIR (refused while kind clusters live in it, unless FORCE=1)
#   images    load the test bed's node image, metrics-server, Traefik and build the stand-ins into it;
#             make $MULTI_IMAGE (the frontend stand-in) and $MULTI_NODE_IMAGE under an index that also
#             lists a linux/arm64 manifest the engine does not hold, which is what a pull leaves here
#   check     prove it: kindstack up (every gate) from those images, load $MULTI_IMAGE twice (the
#             second finds it on the node), status, down; then images bake on $MULTI_NODE_IMAGE,
#             images save --node-image, unbake and up --bundle from the bundle's baked image
#   all       build start images
#   env       print `export DOCKER_HOST=...` etc. for eval
#
# Why each setting (all found on this cgroup v1 VM, see README.md):
# - Debian's runc 1.1.5 cannot run kind's node under this dockerd ("namespace {"time" ""} does not
#   exist"): runc v1.5.3 is built (CGO, with the seccomp tag: dockerd gives every container but
#   kind's node its default seccomp profile, which a runc without it refuses) and the test
#   bed's wrapper (runc-nosysresource, which drops CAP_SYS_RESOURCE) calls it through KINDSTACK_RUNC.
#   The wrapper runs under containerd's shim, so containerd's environment carries KINDSTACK_RUNC.
# - moby v2's dockerd passes a listening socket to its docker-proxy (a flag Debian's 20.10
#   docker-proxy does not know): the matching docker-proxy is built from the same module.
# - Like the test bed's engine it leaves the host's bridge and iptables alone (--bridge none,
#   iptables off, published ports through docker-proxy) and takes its networks from its own
#   address pool ($ENGINE2_ADDRESS_POOL), so it never clashes with the test bed's 172.31/16.
source "$(dirname "$0")/lib.sh"
export GOTOOLCHAIN=local
HERE=$(cd "$(dirname "$0")" && pwd)

MOBY_VERSION=v2.0.0-beta.24 # github.com/moby/moby/v2: the newest dockerd the module proxy serves with a go.mod
RUNC_VERSION=v1.5.3
ENGINE2_DIR=${KINDSTACK_ENGINE2_DIR:-$TESTBED_DIR/engine2}
ENGINE2_SOCK=$ENGINE2_DIR/docker.sock
ENGINE2_ADDRESS_POOL=${KINDSTACK_ENGINE2_ADDRESS_POOL:-172.29.0.0/16}
MOBY_BIN=$BIN_DIR/moby-$MOBY_VERSION
RUNC_BIN=$BIN_DIR/runc-$RUNC_VERSION/runc
# The engine runs its copy of the wrapper, like setup.sh's: never a file of a removed checkout.
ENGINE2_WRAPPER=$ENGINE2_DIR/runc-nosysresource
# kindstack's check cluster, and its host ports (not the test bed's 18080/18443, not 80/443).
# An image whose index lists a platform the engine does not hold (kind issue 3795).
MULTI_IMAGE=kindstack.test/multiplatform:dev
# The node image the same way: what `images save --node-image` saves and `up --bundle` loads back.
MULTI_NODE_IMAGE=$NODE_IMAGE-multiplatform
CHECK_NAME=ksengine2
CHECK_HTTP_PORT=${KINDSTACK_ENGINE2_HTTP_PORT:-28080}
CHECK_HTTPS_PORT=${KINDSTACK_ENGINE2_HTTPS_PORT:-28443}

engine2() { DOCKER_HOST=unix://$ENGINE2_SOCK docker "$@"; }
engine2_answers() { engine2 version >/dev/null 2>&1; }

# live_pid FILE: the pid in FILE when that process lives (empty otherwise).
live_pid() {
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

do_build() {
  need_packages gcc:gcc pkg-config:pkg-config
  # runc's seccomp support links libseccomp (cgo); the headers come from libseccomp-dev.
  if ! pkg-config --exists libseccomp 2>/dev/null; then
    [ "$(id -u)" -eq 0 ] || { echo "engine2: need root to install libseccomp-dev (apt-get)" >&2; return 1; }
    log "installing Debian package libseccomp-dev (runc's seccomp support)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libseccomp-dev >/dev/null
  fi
  local notes=()
  if [ -x "$MOBY_BIN/dockerd" ] && [ -x "$MOBY_BIN/docker-proxy" ]; then
    notes+=("dockerd cached")
  else
    log "building dockerd and docker-proxy $MOBY_VERSION (about 2 minutes)"
    mkdir -p "$MOBY_BIN.tmp"
    heavy env GOBIN="$MOBY_BIN.tmp" CGO_ENABLED=0 go install -trimpath \
      "github.com/moby/moby/v2/cmd/dockerd@$MOBY_VERSION" "github.com/moby/moby/v2/cmd/docker-proxy@$MOBY_VERSION"
    rm -rf "$MOBY_BIN" && mv "$MOBY_BIN.tmp" "$MOBY_BIN"
    notes+=("dockerd built")
  fi
  if [ -x "$RUNC_BIN" ]; then
    notes+=("runc cached")
  else
    log "building runc $RUNC_VERSION"
    mkdir -p "$(dirname "$RUNC_BIN").tmp"
    # runc needs cgo (nsenter, libseccomp); the seccomp tag is what runc's own Makefile builds with.
    heavy env GOBIN="$(dirname "$RUNC_BIN").tmp" CGO_ENABLED=1 go install -trimpath -tags seccomp \
      "github.com/opencontainers/runc@$RUNC_VERSION"
    rm -rf "$(dirname "$RUNC_BIN")" && mv "$(dirname "$RUNC_BIN").tmp" "$(dirname "$RUNC_BIN")"
    notes+=("runc built")
  fi
  RESULT="${notes[*]}: $MOBY_BIN, $RUNC_BIN"
}

write_configs() {
  mkdir -p "$ENGINE2_DIR"/{containerd/root,containerd/state,data,exec}
  cat >"$ENGINE2_DIR/containerd.toml" <<EOF
# written by e2e/testbed/engine2.sh: the second engine's own containerd (not the system one)
version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]
root = "$ENGINE2_DIR/containerd/root"
state = "$ENGINE2_DIR/containerd/state"
[grpc]
  address = "$ENGINE2_DIR/containerd.sock"
[ttrpc]
  address = "$ENGINE2_DIR/containerd.sock.ttrpc"
[debug]
  address = "$ENGINE2_DIR/containerd-debug.sock"
EOF
  jq -n --arg dir "$ENGINE2_DIR" --arg pool "$ENGINE2_ADDRESS_POOL" --arg proxy "$MOBY_BIN/docker-proxy" \
    --arg wrapper "$ENGINE2_WRAPPER" '{
      features: {"containerd-snapshotter": true},
      "data-root": "\($dir)/data", "exec-root": "\($dir)/exec", pidfile: "\($dir)/dockerd.pid",
      hosts: ["unix://\($dir)/docker.sock"], containerd: "\($dir)/containerd.sock",
      bridge: "none", iptables: false, "ip-masq": false,
      "userland-proxy": true, "userland-proxy-path": $proxy,
      "default-address-pools": [{base: $pool, size: 24}],
      runtimes: {"kindstack-runc": {path: $wrapper}}, "default-runtime": "kindstack-runc"
    }' >"$ENGINE2_DIR/daemon.json"
  install -m 0755 "$HERE/runc-nosysresource" "$ENGINE2_WRAPPER"
}

do_start() {
  need_packages containerd:containerd jq:jq zstd:zstd docker:docker.io
  if engine2_answers; then
    RESULT="already running (dockerd pid $(live_pid "$ENGINE2_DIR/dockerd.pid"))"
    return 0
  fi
  [ -x "$MOBY_BIN/dockerd" ] && [ -x "$RUNC_BIN" ] || do_build
  write_configs
  # Descriptors 3-9 are closed for both daemons, as in setup.sh: a caller's flock would otherwise
  # live as long as they do. Without XDG_RUNTIME_DIR, runc keeps its state under the exec root.
  if [ -z "$(live_pid "$ENGINE2_DIR/containerd.pid")" ]; then
    rm -f "$ENGINE2_DIR/containerd.sock"
    env -u XDG_RUNTIME_DIR KINDSTACK_RUNC="$RUNC_BIN" nohup containerd --config "$ENGINE2_DIR/containerd.toml" \
      </dev/null >"$ENGINE2_DIR/containerd.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
    echo $! >"$ENGINE2_DIR/containerd.pid"
    local i
    for i in $(seq 60); do [ -S "$ENGINE2_DIR/containerd.sock" ] && break; sleep 0.5; done
    [ -S "$ENGINE2_DIR/containerd.sock" ] ||
      { tail -20 "$ENGINE2_DIR/containerd.log" >&2; echo "engine2: containerd did not start" >&2; return 1; }
  fi
  rm -f "$ENGINE2_SOCK"
  env -u XDG_RUNTIME_DIR KINDSTACK_RUNC="$RUNC_BIN" nohup "$MOBY_BIN/dockerd" --config-file "$ENGINE2_DIR/daemon.json" \
    </dev/null >"$ENGINE2_DIR/dockerd.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  local i
  for i in $(seq 120); do engine2_answers && break; sleep 0.5; done
  engine2_answers || { tail -20 "$ENGINE2_DIR/dockerd.log" >&2; echo "engine2: dockerd did not start" >&2; return 1; }
  local store
  store=$(engine2 info --format '{{.Driver}} {{range .DriverStatus}}{{index . 1}} {{end}}')
  case $store in
    *io.containerd.snapshotter.v1*) ;;
    *) echo "engine2: dockerd runs without the containerd image store ($store)" >&2; return 1 ;;
  esac
  RESULT="started dockerd $MOBY_VERSION (pid $(live_pid "$ENGINE2_DIR/dockerd.pid")), store: $store, DOCKER_HOST=unix://$ENGINE2_SOCK"
}

# stop_pid FILE NAME: stops the process in FILE and waits for it (at most 30 s).
stop_pid() {
  local pid
  pid=$(live_pid "$1")
  [ -n "$pid" ] || return 0
  kill "$pid"
  local i
  for i in $(seq 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  echo "engine2: $2 (pid $pid) did not stop within 30 s" >&2
  return 1
}

do_stop() {
  if [ -z "$(live_pid "$ENGINE2_DIR/dockerd.pid")" ] && [ -z "$(live_pid "$ENGINE2_DIR/containerd.pid")" ]; then
    RESULT="not running"
    return 0
  fi
  stop_pid "$ENGINE2_DIR/dockerd.pid" dockerd
  stop_pid "$ENGINE2_DIR/containerd.pid" containerd
  RESULT="stopped"
}

do_remove() {
  if engine2_answers; then
    local clusters
    clusters=$(engine2 ps -a --filter label=io.x-k8s.kind.cluster --format '{{.Label "io.x-k8s.kind.cluster"}}' |
      sort -u | paste -sd, - | sed 's/,/, /g')
    if [ -n "$clusters" ] && [ "${FORCE:-}" != 1 ]; then
      echo "engine2: the engine still runs kind clusters ($clusters); delete each first (DOCKER_HOST=unix://$ENGINE2_SOCK kindstack down --name NAME), or pass FORCE=1" >&2
      return 1
    fi
  fi
  do_stop
  awk -v d="$ENGINE2_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
  rm -rf "$ENGINE2_DIR"
  RESULT="stopped and removed $ENGINE2_DIR"
}

# load_archive IMAGE FILE: loads FILE (a docker archive, .tar or .tar.zst) unless IMAGE is present.
load_archive() {
  if engine2 image inspect "$1" >/dev/null 2>&1; then return 0; fi
  [ -f "$2" ] || { echo "engine2: $2 missing (build the test bed first: e2e/testbed/setup.sh)" >&2; return 1; }
  log "loading $1 from $2"
  case $2 in
    *.zst) zstd -dc "$2" | engine2 load -q >/dev/null ;;
    *) engine2 load -q -i "$2" >/dev/null ;;
  esac
}

do_images() {
  engine2_answers || { echo "engine2: not answering at $ENGINE2_SOCK (run e2e/testbed/engine2.sh start)" >&2; return 1; }
  load_archive "$NODE_IMAGE" "$TESTBED_DIR/images/kind-node-$K8S_VERSION-kind$KIND_VERSION-r$NODE_IMAGE_REV.tar.zst"
  load_archive "$METRICS_SERVER_IMAGE" "$TESTBED_DIR/images/metrics-server-$METRICS_SERVER_VERSION.tar"
  if [ -f "$TESTBED_DIR/images/traefik-$TRAEFIK_VERSION.tar" ]; then
    load_archive "$TRAEFIK_IMAGE" "$TESTBED_DIR/images/traefik-$TRAEFIK_VERSION.tar"
  fi
  # The stand-ins are built into this engine by their own script (idempotent, source-hash labels).
  KINDSTACK_BUILD_DOCKER_HOST=unix://$ENGINE2_SOCK bash "$HERE/standins.sh" images
  multi_image kindstack.test/example-frontend:dev "$MULTI_IMAGE"
  multi_image "$NODE_IMAGE" "$MULTI_NODE_IMAGE"
  RESULT="$(engine2 images -q | sort -u | wc -l) images"
}

# multi_image SRC DST makes DST offline: SRC's `docker save` (an OCI layout) gets an index listing
# its manifest for linux/amd64 and one for linux/arm64 whose blobs are not in the archive;
# `docker load` keeps the index with only what is present, as a pull would.
multi_image() {
  local src=$1 dst=$2 dir=$TESTBED_DIR/work/engine2-multi
  if engine2 image inspect "$dst" >/dev/null 2>&1 &&
    [ "$(engine2 image inspect --platform linux/amd64 -f '{{.Id}}' "$dst")" = \
      "$(engine2 image inspect -f '{{.Id}}' "$src")" ]; then
    return 0
  fi
  rm -rf "$dir" && mkdir -p "$dir/oci"
  engine2 save -o "$dir/src.tar" "$src"
  tar -xf "$dir/src.tar" -C "$dir/oci"
  rm -f "$dir/oci/manifest.json" "$dir/oci/repositories"
  local top blob amd64 arm64 fake index digest
  top=$(jq -c '.manifests[0] | {mediaType, digest, size}' "$dir/oci/index.json")
  blob=$dir/oci/blobs/sha256/$(jq -r '.digest | ltrimstr("sha256:")' <<<"$top")
  if jq -e '.manifests' "$blob" >/dev/null; then
    amd64=$(jq -c '[.manifests[] | select(.platform.architecture == "amd64")][0] | {mediaType, digest, size}' "$blob")
  else
    amd64=$top
  fi
  fake=$dir/arm64-manifest.json
  printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","note":"not in this archive"}' >"$fake"
  arm64=$(jq -cn --arg d "sha256:$(sha256sum "$fake" | cut -d' ' -f1)" --argjson n "$(stat -c %s "$fake")" \
    '{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $n}')
  index=$dir/index.blob
  jq -cn --argjson a "$amd64" --argjson b "$arm64" '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [$a + {platform: {architecture: "amd64", os: "linux"}}, $b + {platform: {architecture: "arm64", os: "linux"}}]}' |
    tr -d '\n' >"$index"
  digest=$(sha256sum "$index" | cut -d' ' -f1)
  mv "$index" "$dir/oci/blobs/sha256/$digest"
  jq -cn --arg d "sha256:$digest" --argjson n "$(stat -c %s "$dir/oci/blobs/sha256/$digest")" --arg name "$dst" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{mediaType: "application/vnd.oci.image.index.v1+json",
      digest: $d, size: $n, annotations: {"io.containerd.image.name": $name, "org.opencontainers.image.ref.name": ($name | split(":") | last)}}]}' \
    >"$dir/oci/index.json"
  tar -C "$dir/oci" -cf "$dir/multi.tar" .
  engine2 load -q -i "$dir/multi.tar" >/dev/null
  rm -rf "$dir"
  log "made $dst (index: linux/amd64 present, linux/arm64 absent)"
}

do_check() {
  engine2_answers || { echo "engine2: not answering at $ENGINE2_SOCK (run e2e/testbed/engine2.sh start)" >&2; return 1; }
  local work=$TESTBED_DIR/work/engine2-check bin
  rm -rf "$work" && mkdir -p "$work"
  bin=${KINDSTACK_BIN:-$work/kindstack}
  [ -n "${KINDSTACK_BIN:-}" ] || (cd "$HERE/../.." && CGO_ENABLED=0 go build -trimpath -o "$bin" .)
  local args=(--name "$CHECK_NAME" --kubeconfig "$work/kubeconfig")
  export DOCKER_HOST=unix://$ENGINE2_SOCK
  "$bin" up "${args[@]}" --config "$HERE/../testdata/airgap.yaml" \
    --http-port "$CHECK_HTTP_PORT" --https-port "$CHECK_HTTPS_PORT" || { "$bin" down "${args[@]}" || true; return 1; }
  load_twice "$bin" "$MULTI_IMAGE" "${args[@]}" || { "$bin" down "${args[@]}" || true; return 1; }
  "$bin" status "${args[@]}" || { "$bin" down "${args[@]}" || true; return 1; }
  "$bin" down "${args[@]}"
  check_bundle "$bin" "$work" || { "$bin" down "${args[@]}" || true; return 1; }
  if [ -n "$(engine2 ps -aq --filter "label=io.x-k8s.kind.cluster=$CHECK_NAME")" ]; then
    echo "engine2: kindstack down left containers of $CHECK_NAME" >&2
    return 1
  fi
  RESULT="kindstack up (every gate), load of a partly held multi-platform image (twice), status ready, down clean; images bake of a partly held multi-platform node image, images save --node-image, unbake, then up --bundle from the node from the bundle's baked image: ready; on dockerd $MOBY_VERSION with the containerd image store"
}

# check_bundle BIN WORK: the workshop path on this store, which takes the node image from the
# engine and gives it back: `images bake` on $MULTI_NODE_IMAGE (an index listing a platform the
# engine does not hold, kind issue 3795), `images save --node-image` (the baked image, saved by the
# engine), `images unbake`, then `up --bundle` must load the baked image into the engine, create
# the node from it and import nothing.
check_bundle() {
  local bin=$1 work=$2 out
  local args=(--name "$CHECK_NAME" --kubeconfig "$work/kubeconfig")
  sed "s|^nodeImage: .*|nodeImage: $MULTI_NODE_IMAGE|" "$HERE/../testdata/airgap.yaml" >"$work/multi.yaml"
  grep -q "^nodeImage: $MULTI_NODE_IMAGE\$" "$work/multi.yaml" || { echo "engine2: airgap.yaml has no nodeImage line" >&2; return 1; }
  "$bin" images unbake >/dev/null 2>&1 || true
  "$bin" images bake --config "$work/multi.yaml" >/dev/null || return 1
  if ! out=$("$bin" images save --config "$work/multi.yaml" --node-image -o json "$work/bundle.tar" 2>&1) ||
    ! grep -Fq "\"bakedFrom\":\"$MULTI_NODE_IMAGE\"" <<<"${out//\": \"/\":\"}"; then
    echo "$out" >&2
    echo "engine2: kindstack images save --node-image did not save the image baked from $MULTI_NODE_IMAGE" >&2
    return 1
  fi
  "$bin" images unbake >/dev/null || return 1
  if ! out=$("$bin" up "${args[@]}" --config "$work/multi.yaml" --bundle "$work/bundle.tar" \
    --http-port "$CHECK_HTTP_PORT" --https-port "$CHECK_HTTPS_PORT" 2>&1) ||
    [[ $out != *"from baked node image"* ]] || [[ $out =~ images?:\ [0-9]+\ loaded ]]; then
    echo "$out" >&2
    echo "engine2: kindstack up --bundle did not create the node from the baked image in the bundle alone" >&2
    return 1
  fi
  grep -E '✓ (Import|Cluster|Install)|is ready' <<<"$out" >&2
  "$bin" down "${args[@]}" >/dev/null && "$bin" images unbake >/dev/null
}

do_env() {
  printf 'export DOCKER_HOST=unix://%s\n' "$ENGINE2_SOCK"
  printf 'export KINDSTACK_TESTBED_DIR=%s\n' "$TESTBED_DIR"
  printf 'export KINDSTACK_NODE_IMAGE=%s\n' "$NODE_IMAGE"
  printf 'export PATH=%s:$PATH\n' "$BIN_DIR/kubernetes-$K8S_VERSION"
}

[ $# -gt 0 ] || set -- all
for cmd in "$@"; do
  case $cmd in
    build) stage engine2-build do_build ;;
    start) stage engine2-start do_start ;;
    stop) stage engine2-stop do_stop ;;
    remove) stage engine2-remove do_remove ;;
    images) stage engine2-images do_images ;;
    check) stage engine2-check do_check ;;
    env) do_env ;;
    all)
      stage engine2-build do_build
      stage engine2-start do_start
      stage engine2-images do_images
      ;;
    *) echo "usage: $0 [build|start|stop|remove|images|check|all|env] ..." >&2; exit 2 ;;
  esac
done
if [ ${#SUMMARY[@]} -gt 0 ]; then
  log "summary (also in $TESTBED_DIR/timings.log):"
  printf '  %s\n' "${SUMMARY[@]}" >&2
fi
