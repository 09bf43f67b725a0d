#!/usr/bin/env bash
# Podman for the test bed: Debian's podman (rootful), the engine kind's podman provider drives when
# KIND_EXPERIMENTAL_PROVIDER=podman. Its configuration, storage, networks and runtime state are its
# own, under $PODMAN_DIR (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF): the system's are not used.
#
# Usage: e2e/testbed/podman.sh [subcommand ...]     (default: all)
#   start    install Debian's podman when missing; write its configuration; check it answers
#   images   load the test bed's node image and the images airgap.yaml maps to into its storage
#   check    prove it: kindstack up (every gate) from those images, load of an image only Podman
#            holds (twice: the second finds it on the node), status, down, nothing left
#   remove   delete $PODMAN_DIR (refused while kind clusters live in it, unless FORCE=1)
#   all      start images
#   env      print the exports that point podman (and kind) at it, for eval
#
# Why each setting (found on this VM): runc refuses the RLIMIT_NOFILE Podman asks for (above the
# hard limit) and CAP_SYS_RESOURCE (not in this VM's bounding set), for create and exec: the test
# bed's runc wrapper drops both (KINDSTACK_RUNC_DROP_RLIMITS=1). Debian's runc 1.1.5 runs the node,
# but its kubelet's stats never reach metrics-server; the runc engine2.sh builds (v1.5.3) does.
source "$(dirname "$0")/lib.sh"
export GOTOOLCHAIN=local
HERE=$(cd "$(dirname "$0")" && pwd)

PODMAN_DIR=${KINDSTACK_PODMAN_DIR:-$TESTBED_DIR/podman}
RUNC_BIN=$BIN_DIR/runc-v1.5.3/runc
CHECK_NAME=kspodman
LOAD_IMAGE=kindstack.test/podman-load:check
CHECK_HTTP_PORT=${KINDSTACK_PODMAN_HTTP_PORT:-38080}
CHECK_HTTPS_PORT=${KINDSTACK_PODMAN_HTTPS_PORT:-38443}

podman_env() {
  export CONTAINERS_CONF=$PODMAN_DIR/containers.conf CONTAINERS_STORAGE_CONF=$PODMAN_DIR/storage.conf
}

write_configs() {
  mkdir -p "$PODMAN_DIR"/{storage,run,networks,tmp}
  install -m 0755 "$HERE/runc-nosysresource" "$PODMAN_DIR/runc-nosysresource"
  cat >"$PODMAN_DIR/runc" <<EOF
#!/bin/sh
# written by e2e/testbed/podman.sh: the test bed's wrapper, dropping rlimits too, calling runc $RUNC_BIN
export KINDSTACK_RUNC=$RUNC_BIN KINDSTACK_RUNC_DROP_RLIMITS=1
exec $PODMAN_DIR/runc-nosysresource "\$@"
EOF
  chmod 0755 "$PODMAN_DIR/runc"
  cat >"$PODMAN_DIR/containers.conf" <<EOF
# written by e2e/testbed/podman.sh
[engine]
runtime = "kindstack-runc"
tmp_dir = "$PODMAN_DIR/tmp"
[engine.runtimes]
kindstack-runc = ["$PODMAN_DIR/runc"]
[network]
network_config_dir = "$PODMAN_DIR/networks"
EOF
  cat >"$PODMAN_DIR/storage.conf" <<EOF
# written by e2e/testbed/podman.sh
[storage]
driver = "overlay"
graphroot = "$PODMAN_DIR/storage"
runroot = "$PODMAN_DIR/run"
EOF
}

# air_gap_network: kind's network for the nodes, made before kind makes it, without masquerading:
# like the test bed's engine (ip-masq off), a node has no way out of this machine. With Podman's
# default (ipMasq true) a connection to a ClusterIP that kube-proxy has not programmed yet leaves
# the node, and this VM's transparent egress proxy answers any port 443: the API server's
# aggregator kept such a connection to metrics-server's ClusterIP and got 404 for the metrics API
# from the proxy for as long as the cluster lived. kind uses a "kind" network that exists as it is.
air_gap_network() {
  local conf=$PODMAN_DIR/networks/kind.conflist
  podman network exists kind || podman network create -d=bridge kind >/dev/null
  [ -f "$conf" ] || { echo "podman.sh: $conf missing after podman network create" >&2; return 1; }
  if jq -e '.plugins[] | select(.type == "bridge") | .ipMasq' "$conf" >/dev/null; then
    jq '(.plugins[] | select(.type == "bridge") | .ipMasq) = false' "$conf" >"$conf.tmp" && mv "$conf.tmp" "$conf"
  fi
}

do_start() {
  [ "$(id -u)" -eq 0 ] || { echo "podman.sh: rootful Podman needs root" >&2; return 1; }
  need_packages podman:podman jq:jq zstd:zstd
  [ -x "$RUNC_BIN" ] || bash "$HERE/engine2.sh" build
  write_configs
  podman_env
  local v
  v=$(podman info --format '{{.Version.Version}}') || { echo "podman.sh: podman info failed" >&2; return 1; }
  air_gap_network
  RESULT="podman $v, storage $PODMAN_DIR/storage, runtime $RUNC_BIN (through the wrapper), network kind without masquerading"
}

# load IMAGE: from the test bed's engine into Podman's storage, unless Podman has it.
load() {
  podman image exists "$1" && return 0
  log "loading $1 into podman"
  (docker_env && docker save "$1") | podman load -q >/dev/null
}

do_images() {
  podman_env
  need_docker
  local archive=$TESTBED_DIR/images/kind-node-$K8S_VERSION-kind$KIND_VERSION-r$NODE_IMAGE_REV.tar.zst img
  if ! podman image exists "$NODE_IMAGE"; then
    [ -f "$archive" ] || { echo "podman.sh: $archive missing (run e2e/testbed/setup.sh)" >&2; return 1; }
    log "loading $NODE_IMAGE into podman from $archive"
    zstd -dc "$archive" | podman load -q >/dev/null
  fi
  for img in $(awk '/^images:/ {on=1; next} on && /^  [^ #]/ {print $2}' "$HERE/../testdata/airgap.yaml"); do
    case $img in *traefik* | *distribution*) continue ;; esac # not in the default stack
    load "$img"
  done
  RESULT="$(podman images -q | sort -u | wc -l) images"
}

do_check() {
  podman_env
  air_gap_network
  local work=$TESTBED_DIR/work/podman-check bin
  rm -rf "$work" && mkdir -p "$work"
  bin=${KINDSTACK_BIN:-$work/kindstack}
  [ -n "${KINDSTACK_BIN:-}" ] || (cd "$HERE/../.." && CGO_ENABLED=0 go build -trimpath -o "$bin" .)
  local args=(--name "$CHECK_NAME" --kubeconfig "$work/kubeconfig")
  export KIND_EXPERIMENTAL_PROVIDER=podman
  unset DOCKER_HOST
  "$bin" up "${args[@]}" --config "$HERE/../testdata/airgap.yaml" \
    --http-port "$CHECK_HTTP_PORT" --https-port "$CHECK_HTTPS_PORT" || { "$bin" down "${args[@]}" || true; return 1; }
  curl -fsS "http://localhost:$CHECK_HTTP_PORT/api/healthy" >/dev/null ||
    { echo "podman.sh: the example does not answer on port $CHECK_HTTP_PORT" >&2; "$bin" down "${args[@]}" || true; return 1; }
  # load: an image only Podman holds (a new name for one it has), then again (found on the node).
  podman tag kindstack.test/example-backend:dev "$LOAD_IMAGE"
  load_twice "$bin" "$LOAD_IMAGE" "${args[@]}" || { "$bin" down "${args[@]}" || true; return 1; }
  "$bin" status "${args[@]}" || { "$bin" down "${args[@]}" || true; return 1; }
  "$bin" down "${args[@]}"
  if [ -n "$(podman ps -aq --filter "label=io.x-k8s.kind.cluster=$CHECK_NAME")" ]; then
    echo "podman.sh: kindstack down left containers of $CHECK_NAME" >&2
    return 1
  fi
  podman rmi "$LOAD_IMAGE" >/dev/null
  RESULT="kindstack up (every gate) and /api/healthy through the ingress, load (twice), status ready, down clean on $(podman --version)"
}

do_remove() {
  podman_env
  if [ -d "$PODMAN_DIR" ] && [ -n "$(podman ps -aq --filter label=io.x-k8s.kind.cluster 2>/dev/null)" ] && [ "${FORCE:-}" != 1 ]; then
    echo "podman.sh: kind clusters live in $PODMAN_DIR (FORCE=1 removes them too)" >&2
    return 1
  fi
  podman ps -aq | xargs -r podman rm -f >/dev/null 2>&1 || true
  podman system reset -f >/dev/null 2>&1 || true
  rm -rf "$PODMAN_DIR"
  RESULT="removed $PODMAN_DIR"
}

do_env() {
  printf 'export CONTAINERS_CONF=%s CONTAINERS_STORAGE_CONF=%s KIND_EXPERIMENTAL_PROVIDER=podman\n' \
    "$PODMAN_DIR/containers.conf" "$PODMAN_DIR/storage.conf"
}

[ $# -gt 0 ] || set -- all
for cmd in "$@"; do
  case $cmd in
    start) stage podman-start do_start ;;
    images) stage podman-images do_images ;;
    check) stage podman-check do_check ;;
    remove) stage podman-remove do_remove ;;
    env) do_env ;;
    all)
      stage podman-start do_start
      stage podman-images do_images
      ;;
    *) echo "usage: $0 [start|images|check|remove|all|env] ..." >&2; exit 2 ;;
  esac
done
if [ ${#SUMMARY[@]} -gt 0 ]; then
  log "summary (also in $TESTBED_DIR/timings.log):"
  printf '  %s\n' "${SUMMARY[@]}" >&2
fi
