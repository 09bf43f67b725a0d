#!/usr/bin/env bash
# A real OCI registry for the air-gapped test bed: `crane registry serve` from go-containerregistry
# (built from the Go module proxy), run as a container on kind's docker network and filled with the
# test bed's images under their upstream repository paths, so a kind node with registry mirrors
# pulls docker.io and registry.k8s.io images from it as it would from a real mirror.
#
# Usage: e2e/testbed/registry.sh [subcommand ...]     (default: build)
#   build   crane $CRANE_VERSION -> $BIN_DIR/crane-$CRANE_VERSION/crane, and the image
#           $REGISTRY_IMAGE (FROM scratch) in the PRIVATE dockerd (`setup.sh docker`)
#   start   run container $REGISTRY_NAME (on network kind, port 127.0.0.1:$REGISTRY_PORT for pushes)
#           unless it runs; push every image of REGISTRY_IMAGES that it lacks. Its manifests live in
#           memory: a restarted registry is filled again.
#   stop    remove the container (and with it what was pushed)
#   paths   print REGISTRY_NAME=... REGISTRY_URL=... (what a node's hosts.toml names)
#           REGISTRY_HOST_URL=... CRANE=... (no work; the e2e tests read it)
#   check   smoke test: start, then every pushed image's manifest answers through the registry
source "$(dirname "$0")/lib.sh"
export GOTOOLCHAIN=local

CRANE_VERSION=v0.22.1
CRANE_BIN=$BIN_DIR/crane-$CRANE_VERSION/crane
REGISTRY_IMAGE=kindstack.test/registry:crane-$CRANE_VERSION
# Not kindstack-registry: that is the name of kindstack's own local registry (`up --registry`).
REGISTRY_NAME=${KINDSTACK_REGISTRY_NAME:-kindstack-testbed-mirror}
REGISTRY_PORT=${KINDSTACK_REGISTRY_PORT:-5999}
REGISTRY_HOST_URL=http://127.0.0.1:$REGISTRY_PORT

# REGISTRY_IMAGES: UPSTREAM=LOCAL, the upstream reference (without digest) the registry serves and
# the test bed image behind it: the images kindstack's manifests name (embed/), as airgap.yaml maps them.
REGISTRY_IMAGES=(
  "registry.k8s.io/metrics-server/metrics-server:v0.8.0=kindstack.test/metrics-server:$METRICS_SERVER_VERSION"
  registry.k8s.io/ingress-nginx/controller:v1.15.1=kindstack.test/ingress-nginx-controller:dev
  docker.io/library/postgres:17-alpine=kindstack.test/postgres:dev
  docker.io/lyzhang1999/backend:latest=kindstack.test/example-backend:dev
  docker.io/lyzhang1999/frontend:latest=kindstack.test/example-frontend:dev
  "docker.io/library/traefik:$TRAEFIK_VERSION=$TRAEFIK_IMAGE"
)

do_build() {
  if [ ! -x "$CRANE_BIN" ]; then
    local start
    start=$(date +%s)
    mkdir -p "$(dirname "$CRANE_BIN")"
    (cd / && heavy env CGO_ENABLED=0 GOBIN="$(dirname "$CRANE_BIN").tmp" go install -trimpath -ldflags "-s -w" \
      "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION")
    mv "$(dirname "$CRANE_BIN").tmp/crane" "$CRANE_BIN"
    rmdir "$(dirname "$CRANE_BIN").tmp"
    RESULT="crane built in $(($(date +%s) - start))s"
  else
    RESULT="crane cached"
  fi
  need_docker
  if scratch_image "$REGISTRY_IMAGE" "$(sha256sum <"$CRANE_BIN" | cut -c1-16)" \
    "$(printf 'FROM scratch\nCOPY crane /crane\nUSER 65532:65532\nENTRYPOINT ["/crane", "registry", "serve", "--address", ":5000"]')" \
    "$CRANE_BIN"; then
    RESULT+=", image built"
  else
    RESULT+=", image cached"
  fi
}

# path_of UPSTREAM: the repository path and tag the registry serves UPSTREAM under.
path_of() {
  local ref=${1#docker.io/}
  ref=${ref#registry.k8s.io/}
  printf '%s\n' "$ref"
}

do_start() {
  need_docker
  if [ ! -x "$CRANE_BIN" ] || [ -z "$(image_label "$REGISTRY_IMAGE")" ]; then
    echo "registry.sh: run e2e/testbed/registry.sh build first" >&2
    return 1
  fi
  docker network inspect kind >/dev/null 2>&1 || docker network create kind >/dev/null
  # This mirror was called kindstack-registry before kindstack's own registry took the name: one
  # left by an older run (it runs this script's image) would hold the port.
  if [ "$(docker inspect -f '{{.Config.Image}}' kindstack-registry 2>/dev/null)" = "$REGISTRY_IMAGE" ]; then
    docker rm -f kindstack-registry >/dev/null
  fi
  if [ "$(docker inspect -f '{{.State.Running}}' "$REGISTRY_NAME" 2>/dev/null)" != true ]; then
    docker rm -f "$REGISTRY_NAME" >/dev/null 2>&1 || true
    docker run -d --name "$REGISTRY_NAME" --network kind -p "127.0.0.1:$REGISTRY_PORT:5000" "$REGISTRY_IMAGE" >/dev/null
    local _
    for _ in $(seq 50); do
      curl -fsS "$REGISTRY_HOST_URL/v2/" >/dev/null 2>&1 && break
      sleep 0.2
    done
    curl -fsS "$REGISTRY_HOST_URL/v2/" >/dev/null || { docker logs "$REGISTRY_NAME" >&2; return 1; }
    log "started $REGISTRY_NAME ($REGISTRY_IMAGE) on network kind"
  fi
  local entry upstream local_image dest id pushed=0 tmp
  tmp=$TESTBED_DIR/work/registry-push
  mkdir -p "$tmp"
  for entry in "${REGISTRY_IMAGES[@]}"; do
    upstream=${entry%%=*} local_image=${entry#*=}
    dest=127.0.0.1:$REGISTRY_PORT/$(path_of "$upstream")
    id=$(docker image inspect -f '{{.Id}}' "$local_image" 2>/dev/null) ||
      { echo "registry.sh: image $local_image is missing (run make testbed)" >&2; return 1; }
    # The same image when its config (whose digest is the engine's image ID) is the pushed one's.
    if [ "$("$CRANE_BIN" manifest --insecure "$dest" 2>/dev/null | jq -r .config.digest)" = "$id" ]; then
      continue
    fi
    docker save -o "$tmp/image.tar" "$local_image"
    "$CRANE_BIN" push --insecure "$tmp/image.tar" "$dest" >/dev/null 2>"$tmp/push.log" ||
      { cat "$tmp/push.log" >&2; return 1; }
    pushed=$((pushed + 1))
  done
  rm -rf "$tmp"
  RESULT="$REGISTRY_NAME serves ${#REGISTRY_IMAGES[@]} images ($pushed pushed now)"
}

do_stop() {
  need_docker
  docker rm -f "$REGISTRY_NAME" >/dev/null 2>&1 || true
  RESULT="$REGISTRY_NAME removed"
}

do_paths() {
  printf 'REGISTRY_NAME=%s\nREGISTRY_URL=http://%s:5000\nREGISTRY_HOST_URL=%s\nCRANE=%s\n' \
    "$REGISTRY_NAME" "$REGISTRY_NAME" "$REGISTRY_HOST_URL" "$CRANE_BIN"
}

do_check() {
  do_start
  local entry upstream
  for entry in "${REGISTRY_IMAGES[@]}"; do
    upstream=${entry%%=*}
    "$CRANE_BIN" manifest --insecure "127.0.0.1:$REGISTRY_PORT/$(path_of "$upstream")" | jq -e '.layers | length > 0' >/dev/null ||
      { echo "registry.sh: $upstream has no layers in $REGISTRY_NAME" >&2; return 1; }
  done
  RESULT="${#REGISTRY_IMAGES[@]} manifests answer"
}

main() {
  local cmds=("$@")
  [ ${#cmds[@]} -gt 0 ] || cmds=(build)
  for c in "${cmds[@]}"; do
    case $c in
      build) stage build do_build ;;
      start) stage start do_start ;;
      stop) stage stop do_stop ;;
      check) stage check do_check ;;
      paths) do_paths; return 0 ;;
      *) echo "registry.sh: unknown subcommand $c (want build, start, stop, paths, check)" >&2; return 2 ;;
    esac
  done
  printf '%s\n' "${SUMMARY[@]}" >&2
}
main "$@"
