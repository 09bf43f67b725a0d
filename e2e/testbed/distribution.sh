#!/usr/bin/env bash
# The real distribution registry (what Docker Hub's `registry:3` runs) for the air-gapped test bed:
# its `registry` binary built from the Go module github.com/distribution/distribution/v3, packaged
# FROM scratch in the layout of the module's own Dockerfile (binary /bin/registry, config file
# /etc/distribution/config.yml, CMD `serve` that file, VOLUME /var/lib/registry, port 5000), so
# kindstack runs it exactly as it runs the upstream image: with the image's own command, and its
# settings in REGISTRY_* environment variables. kindstack gets it through the public `images:` map
# (e2e/testdata/airgap.yaml). Not to be confused with registry.sh: that one is the registry MIRROR
# stand-in (crane), filled with the test bed's images.
#
# Usage: e2e/testbed/distribution.sh [subcommand ...]     (default: build)
#   build   registry $DISTRIBUTION_VERSION -> $BIN_DIR/distribution-$DISTRIBUTION_VERSION/registry, and the
#           image $DISTRIBUTION_IMAGE in the PRIVATE dockerd (`setup.sh docker`); both cached
#   check   run the image on a free port with kindstack's environment, push nothing, ask /v2/
#   paths   print DISTRIBUTION_IMAGE=... (no work; the e2e tests read it)
source "$(dirname "$0")/lib.sh"
export GOTOOLCHAIN=local

DISTRIBUTION_VERSION=v3.1.2
DISTRIBUTION_BIN=$BIN_DIR/distribution-$DISTRIBUTION_VERSION/registry
DISTRIBUTION_IMAGE=kindstack.test/distribution:$DISTRIBUTION_VERSION

# The image's config file: ours, the least the registry needs to start (it refuses to run without
# a file). kindstack sets the storage directory and the address through the environment anyway.
CONFIG='version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000'

do_build() {
  if [ ! -x "$DISTRIBUTION_BIN" ]; then
    local start tmp
    start=$(date +%s)
    tmp=$(dirname "$DISTRIBUTION_BIN").tmp
    rm -rf "$tmp" && mkdir -p "$tmp"
    (cd / && heavy env CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -ldflags "-s -w" \
      "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_VERSION")
    mkdir -p "$(dirname "$DISTRIBUTION_BIN")"
    mv "$tmp/registry" "$DISTRIBUTION_BIN"
    rmdir "$tmp"
    RESULT="registry built in $(($(date +%s) - start))s"
  else
    RESULT="registry cached"
  fi
  need_docker
  local work=$TESTBED_DIR/work/distribution
  rm -rf "$work" && mkdir -p "$work"
  printf '%s\n' "$CONFIG" >"$work/config.yml"
  cp "$DISTRIBUTION_BIN" "$work/registry"
  local hash
  hash=$(cat "$work/registry" "$work/config.yml" "$0" | sha256sum | cut -c1-16)
  if scratch_image "$DISTRIBUTION_IMAGE" "$hash" \
    "$(printf '%s\n' 'FROM scratch' 'COPY registry /bin/registry' 'COPY config.yml /etc/distribution/config.yml' \
      'VOLUME ["/var/lib/registry"]' 'ENV OTEL_TRACES_EXPORTER=none' 'EXPOSE 5000' \
      'ENTRYPOINT ["/bin/registry"]' 'CMD ["serve", "/etc/distribution/config.yml"]')" \
    "$work/registry" "$work/config.yml"; then
    RESULT+=", image built"
  else
    RESULT+=", image cached"
  fi
  rm -rf "$work"
}

do_check() {
  need_docker
  local name=kindstack-testbed-distribution-check port
  docker rm -f "$name" >/dev/null 2>&1 || true
  # The private dockerd has no default bridge (--bridge none): a port is published only from a
  # network of its own, as kindstack's registry is, on kind's.
  docker network inspect kind >/dev/null 2>&1 || docker network create kind >/dev/null
  docker run -d --name "$name" --network kind -p 127.0.0.1::5000 \
    -e REGISTRY_HTTP_ADDR=:5000 -e REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/var/lib/registry \
    "$DISTRIBUTION_IMAGE" >/dev/null
  port=$(docker port "$name" 5000/tcp 2>/dev/null | head -1 | sed 's/.*://') || true
  if [ -z "$port" ]; then
    docker inspect -f 'state {{.State.Status}}, exit code {{.State.ExitCode}}' "$name" >&2 || true
    docker logs "$name" >&2 || true
    docker rm -f -v "$name" >/dev/null
    return 1
  fi
  local _ ok=""
  for _ in $(seq 50); do
    if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.2
  done
  [ -n "$ok" ] || { docker logs "$name" >&2; docker rm -f -v "$name" >/dev/null; return 1; }
  docker rm -f -v "$name" >/dev/null
  RESULT="$DISTRIBUTION_IMAGE answers /v2/"
}

do_paths() {
  printf 'DISTRIBUTION_IMAGE=%s\n' "$DISTRIBUTION_IMAGE"
}

main() {
  local cmds=("$@")
  [ ${#cmds[@]} -gt 0 ] || cmds=(build)
  for c in "${cmds[@]}"; do
    case $c in
      build) stage build do_build ;;
      check) stage check do_check ;;
      paths) do_paths; return 0 ;;
      *) echo "distribution.sh: unknown subcommand $c (want build, check, paths)" >&2; return 2 ;;
    esac
  done
  printf '%s\n' "${SUMMARY[@]}" >&2
}
main "$@"
