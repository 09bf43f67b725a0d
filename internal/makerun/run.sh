#!/usr/bin/env bash
# `make run` on any machine: picks the container engine and where the images come from, says which
# path it took at each point, then runs `kindstack up`. The offline build is the test bed's own
# (e2e/testbed/setup.sh, traefik.sh, standins.sh): called here, never copied.
#
# Usage: internal/makerun/run.sh up [kindstack up flags...]   make run (ARGS="..." in make)
#        internal/makerun/run.sh offline-images [flags...]    build every image from source, write the images map
#        internal/makerun/run.sh path [flags...]              say which path `make run` would take, change nothing
#        internal/makerun/run.sh config [flags...]            (re)write the images map of the offline images only
#        internal/makerun/run.sh engine-env                   `export DOCKER_HOST=...` of the engine make run uses
#        internal/makerun/run.sh engine-stop | engine-remove  stop kindstack's private engine / also delete its data
#
# Engine: the user's when one answers (docker, podman or nerdctl, as kind detects them; DOCKER_HOST
# honoured); else kindstack's private dockerd (Debian's docker.io, its own socket and data directory
# under the cache; a system Docker is never touched), started when absent on Linux as root.
# Images: pulled when, for every image, its registry or one of its mirrors answers HTTP within 3 s;
# from the bundle with --bundle; otherwise built from source into the engine (cached), with the
# generated config $TESTBED_DIR/offline/kindstack.yaml pointing `up` at them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TESTBED=$ROOT/e2e/testbed
# shellcheck source=../../e2e/testbed/lib.sh
source "$TESTBED/lib.sh"
export GOTOOLCHAIN=local
KINDSTACK=${KINDSTACK_BIN:-$ROOT/bin/kindstack}
OFFLINE_DIR=$TESTBED_DIR/offline
OFFLINE_CONFIG=$OFFLINE_DIR/kindstack.yaml
PROBE_TIMEOUT=3

say() { printf '[make run] %s\n' "$*" >&2; }
die() { printf '[make run] %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# engine

# user_engine prints the first engine that answers with the user's environment, as kind picks it.
user_engine() {
  local e candidates=(docker podman nerdctl)
  [ -n "${KIND_EXPERIMENTAL_PROVIDER:-}" ] && candidates=("$KIND_EXPERIMENTAL_PROVIDER")
  for e in "${candidates[@]}"; do
    command -v "$e" >/dev/null 2>&1 || continue
    if timeout 10 "$e" info >/dev/null 2>&1; then
      echo "$e"
      return 0
    fi
  done
  return 1
}

private_answers() { DOCKER_HOST=unix://$DOCKER_SOCK timeout 10 docker version >/dev/null 2>&1; }

# pick_engine sets ENGINE (docker|podman|nerdctl), ENGINE_KIND (yours|private) and, for Docker,
# exports DOCKER_HOST; with START=1 it starts the private engine when it has to.
pick_engine() {
  local e
  if [ "${DOCKER_HOST:-}" = "unix://$DOCKER_SOCK" ] && private_answers; then
    ENGINE=docker ENGINE_KIND=private ENGINE_NOTE="kindstack's private engine (running; $DOCKER_SOCK, through DOCKER_HOST)"
    return 0
  fi
  if e=$(user_engine); then
    ENGINE=$e ENGINE_KIND=yours
    ENGINE_NOTE="yours: $e ($("$e" version --format '{{.Server.Version}}' 2>/dev/null || echo "version unknown"))${DOCKER_HOST:+ at DOCKER_HOST=$DOCKER_HOST}"
    if [ "$e" = docker ] && [ -z "${DOCKER_HOST:-}" ]; then
      DOCKER_HOST=$(docker context inspect -f '{{.Endpoints.docker.Host}}' 2>/dev/null || echo unix:///var/run/docker.sock)
      export DOCKER_HOST
    fi
    return 0
  fi
  ENGINE=docker ENGINE_KIND=private
  if private_answers; then
    ENGINE_NOTE="kindstack's private engine (running; $DOCKER_SOCK)"
  elif [ "$(uname -s)" = Linux ] && [ "$(id -u)" -eq 0 ]; then
    if [ "${START:-0}" != 1 ]; then
      ENGINE_NOTE="kindstack's private engine, to be started (Debian's docker.io; socket $DOCKER_SOCK)"
    else
      say "engine: none answers; starting kindstack's private engine (Debian's docker.io, socket $DOCKER_SOCK, data in $DOCKER_DIR; a system Docker is not touched)"
      bash "$TESTBED/setup.sh" docker
      ENGINE_NOTE="kindstack's private engine (started; $DOCKER_SOCK)"
    fi
  else
    die "no container engine answers (docker, podman, nerdctl) and only root can start kindstack's own: start Docker (or install Debian's docker.io and run make run as root)"
  fi
  export DOCKER_HOST=unix://$DOCKER_SOCK
}

# ---------------------------------------------------------------------------------------------
# registries

has_flag() { # FLAG ARGS...: ARGS contain FLAG or FLAG=...
  local f=$1 a
  shift
  for a in "$@"; do
    [ "$a" = "$f" ] || [ "${a%%=*}" = "$f" ] && return 0
  done
  return 1
}

# ref_host REF: the registry host that serves REF (Docker's rule: a first path element with a dot, a
# colon or "localhost" is a registry; otherwise Docker Hub, whose API host is registry-1.docker.io).
ref_host() {
  local first=${1%%/*}
  if [[ $1 == */* ]] && [[ $first == *.* || $first == *:* || $first == localhost ]]; then
    [ "$first" = docker.io ] && first=registry-1.docker.io
    echo "$first"
  else
    echo registry-1.docker.io
  fi
}

# answers HOST: the registry API answers HTTP (any status: 401 is a live registry) within the probe timeout.
answers() {
  local code
  for scheme in https http; do
    code=$(curl -sS -m "$PROBE_TIMEOUT" -o /dev/null -w '%{http_code}' "$scheme://$1/v2/" 2>/dev/null || true)
    [ -n "$code" ] && [ "$code" != 000 ] && return 0
  done
  return 1
}

# probe_registries ARGS...: sets PULLABLE=1 when every image `up` runs with these flags can be
# pulled (its registry or one of its mirrors answers), else lists the ones that cannot in UNREACHABLE.
probe_registries() {
  command -v curl >/dev/null 2>&1 || need_packages curl:curl ||
    die "curl is needed to see whether a registry answers: install it (apt-get install curl)"
  local list hosts=() h
  list=$("$KINDSTACK" images list "$@") || die "kindstack images list failed: fix the flags or the config file above"
  # Columns: IMAGE COMPONENT THROUGH (mirror references, comma-separated, or -).
  mapfile -t hosts < <(awk 'NR > 1 { print $1; for (i = 3; i <= NF; i++) { gsub(",", "", $i); if ($i != "-") print $i } }' <<<"$list" |
    while read -r ref; do ref_host "$ref"; done | sort -u)
  local dir
  dir=$(mktemp -d)
  for h in "${hosts[@]}"; do (answers "$h" && touch "$dir/$h") & done
  wait
  UP_HOSTS=() DOWN_HOSTS=()
  for h in "${hosts[@]}"; do if [ -e "$dir/$h" ]; then UP_HOSTS+=("$h"); else DOWN_HOSTS+=("$h"); fi; done
  rm -rf "$dir"
  UNREACHABLE=()
  local line ref ok m
  while read -r line; do
    ref=$(awk '{print $1}' <<<"$line")
    ok=0
    for m in $(awk '{ for (i = 3; i <= NF; i++) { gsub(",", "", $i); if ($i != "-") print $i } }' <<<"$line") "$ref"; do
      [[ " ${UP_HOSTS[*]} " == *" $(ref_host "$m") "* ]] && ok=1
    done
    [ $ok = 1 ] || UNREACHABLE+=("$ref")
  done < <(tail -n +2 <<<"$list")
  PULLABLE=0
  [ ${#UNREACHABLE[@]} -eq 0 ] && PULLABLE=1
  return 0
}

# ---------------------------------------------------------------------------------------------
# the offline build: the test bed's stages, each with its step, what it builds and an estimate

# Cold durations measured on a 2-core machine (the one-run cold `make run` of 2026-12-05, README).
# A longer build recorded in this machine's timings.log wins (a slower machine); a shorter one may
# have found part of its work cached, so it does not lower the estimate.
declare -A COLD_SECONDS=([docker]=11 [rootfs]=46 [binaries]=629 [node-image]=32 [images]=2 [traefik-bin]=227 [traefik-img]=3 [example]=125)
declare -A WHAT=(
  [docker]="kindstack's private engine"
  [rootfs]="Debian $DEBIAN_SUITE base rootfs (debootstrap from the Debian mirror)"
  [binaries]="Kubernetes $K8S_VERSION, etcd $ETCD_VERSION, CoreDNS $COREDNS_VERSION, metrics-server $METRICS_SERVER_VERSION, pause from their Go modules"
  [node-image]="kind node image $NODE_IMAGE"
  [images]="metrics-server image $METRICS_SERVER_IMAGE"
  [traefik-bin]="Traefik $TRAEFIK_VERSION from its Go module"
  [traefik-img]="Traefik image $TRAEFIK_IMAGE"
  [example]="the example app's images: PostgreSQL 15 from Debian, backend and frontend stand-ins from e2e/standins"
)

# estimate STAGE: seconds; the longest real build of STAGE in timings.log or the measured default.
estimate() {
  local rec def=${COLD_SECONDS[$1]:-60}
  rec=$(awk -v s="$1" '$2 == s && /built|debootstrapped|assembled|started/ && $3 + 0 > v { v = $3 + 0 } END { print v + 0 }' \
    "$TESTBED_DIR/timings.log" 2>/dev/null || echo 0)
  echo $((rec > def ? rec : def))
}

human() { local s=$1; if [ "$s" -ge 90 ]; then echo "$(((s + 30) / 60)) min"; else echo "${s} s"; fi; }

# step N TOTAL STAGE CMD...: runs CMD with a line saying the step and the estimate, and a progress
# line every minute while it runs (the ticker is stopped and joined before step returns).
step() {
  local n=$1 total=$2 name=$3 est start rc=0 ticker
  shift 3
  est=$(estimate "$name")
  say "offline $n/$total $name: ${WHAT[$name]} (cold about $(human "$est") on 2 cores; seconds when cached)"
  start=$(date +%s)
  (
    while sleep 60; do
      printf '[make run]   … %s: %s so far, cold estimate %s\n' "$name" "$(human $(($(date +%s) - start)))" "$(human "$est")" >&2
    done
  ) &
  ticker=$!
  "$@" || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  [ $rc -eq 0 ] || die "offline $n/$total $name failed (exit $rc); its output is above, and the finished steps stay cached: run make run again after fixing it"
  say "offline $n/$total $name: done in $(human $(($(date +%s) - start)))"
}

example_images() { bash "$TESTBED/standins.sh" binaries rootfs images; }

# The local image for each image of kindstack's manifests, by component and repository (the
# versions come from kindstack itself: `images list`).
local_image() { # COMPONENT REF
  case "$1/${2%%[:@]*}" in
    node/*) echo "$NODE_IMAGE" ;;
    metrics-server/*/metrics-server) echo "$METRICS_SERVER_IMAGE" ;;
    traefik/*/traefik) echo "$TRAEFIK_IMAGE" ;;
    example/postgres | example/*/postgres) echo kindstack.test/postgres:dev ;;
    example/*/backend) echo kindstack.test/example-backend:dev ;;
    example/*/frontend) echo kindstack.test/example-frontend:dev ;;
    *) return 1 ;;
  esac
}

# write_config ARGS...: the images map for the images `up` runs with these flags, as a config file
# a user could write by hand (kindstack's public `images:` field), then checked by kindstack.
write_config() {
  local list line ref comp img key
  list=$("$KINDSTACK" images list "$@" --ingress traefik) || die "kindstack images list failed: fix the flags above"
  mkdir -p "$OFFLINE_DIR"
  {
    printf '%s\n' "# Generated by internal/makerun/run.sh (make run / make offline-images): every image kindstack up runs," \
      "# built from source on this machine into the engine. Use: kindstack up --config $OFFLINE_CONFIG" \
      "apiVersion: kindstack.dev/v1alpha1" "kind: Stack" "ingress: traefik    # ingress-nginx cannot be built from source here" \
      "nodeImage: $NODE_IMAGE" "images:"
    while read -r line; do
      ref=$(awk '{print $1}' <<<"$line") comp=$(awk '{print $2}' <<<"$line")
      [ "$comp" = node ] && continue
      img=$(local_image "$comp" "$ref") || die "the offline build has no image for $ref (component $comp): kindstack's manifests changed; add it to local_image in internal/makerun/run.sh"
      key=${ref%%@*}
      printf '  %s: %s\n' "$key" "$img"
    done < <(tail -n +2 <<<"$list")
  } >"$OFFLINE_CONFIG.tmp"
  mv "$OFFLINE_CONFIG.tmp" "$OFFLINE_CONFIG"
  # kindstack rejects a key that matches none of its images; every image must now be a local one.
  list=$("$KINDSTACK" images list "$@" --config "$OFFLINE_CONFIG") || die "kindstack refuses $OFFLINE_CONFIG (above)"
  ! awk 'NR > 1 { print $1 }' <<<"$list" | grep -v '^kindstack\.test/' | grep -q . ||
    die "after the images map, kindstack still wants $(awk 'NR > 1 { print $1 }' <<<"$list" | grep -v '^kindstack\.test/' | tr '\n' ' ')"
}

# offline_images ARGS...: every image, into the engine in DOCKER_HOST (cached), then the config.
offline_images() {
  [ "$ENGINE" = docker ] || die "the offline build needs a Docker engine (it builds with docker build and docker import); $ENGINE answers here"
  [ "$(id -u)" -eq 0 ] || die "no registry answers, and the offline build needs root (debootstrap, chroot): run make offline-images as root once, or use --bundle or --registry-mirror"
  if has_flag --ingress "$@"; then
    local a prev=""
    for a in "$@"; do
      case "$prev/$a" in --ingress/nginx | */--ingress=nginx) die "ingress-nginx cannot be built from source here: the offline path runs Traefik (drop --ingress nginx)" ;; esac
      prev=$a
    done
  fi
  if has_flag --config "$@" || [ -n "${KINDSTACK_CONFIG:-}" ]; then
    die "the offline path brings its own config file ($OFFLINE_CONFIG): pass settings as flags, or copy its images: map into your file and run kindstack up yourself"
  fi
  if [ "$ENGINE_KIND" = yours ]; then export KINDSTACK_BUILD_DOCKER_HOST=$DOCKER_HOST; fi
  local t0 n=0 total=7
  t0=$(date +%s)
  step $((++n)) $total rootfs bash "$TESTBED/setup.sh" rootfs
  step $((++n)) $total binaries bash "$TESTBED/setup.sh" binaries
  step $((++n)) $total node-image bash "$TESTBED/setup.sh" node-image
  step $((++n)) $total images bash "$TESTBED/setup.sh" images
  step $((++n)) $total traefik-bin bash "$TESTBED/traefik.sh" binary
  step $((++n)) $total traefik-img bash "$TESTBED/traefik.sh" image
  step $((++n)) $total example example_images
  write_config "$@"
  say "images: built from source and cached in $TESTBED_DIR ($(human $(($(date +%s) - t0)))); images map: $OFFLINE_CONFIG"
}

# ---------------------------------------------------------------------------------------------

cmd=${1:-up}
[ $# -gt 0 ] && shift
case $cmd in
  up | path)
    [ -x "$KINDSTACK" ] || die "$KINDSTACK is missing: run make build"
    T0=$(date +%s%N)
    START=$([ "$cmd" = up ] && echo 1 || echo 0) pick_engine
    say "engine: $ENGINE_NOTE"
    if has_flag --bundle "$@"; then
      say "images: from the bundle you gave (--bundle); nothing is pulled or built"
      UP_ARGS=("$@")
    else
      probe_registries "$@"
      if [ $PULLABLE = 1 ]; then
        say "images: pulled (answering: ${UP_HOSTS[*]})"
        UP_ARGS=("$@")
      else
        say "images: neither the registry nor a mirror answers within ${PROBE_TIMEOUT}s for ${#UNREACHABLE[@]} image(s) (not answering: ${DOWN_HOSTS[*]}); built from source (Traefik as the ingress; cached in $TESTBED_DIR)"
        if [ "$cmd" = path ]; then
          [ -f "$OFFLINE_CONFIG" ] && say "offline images: built before ($OFFLINE_CONFIG); make run checks them in seconds" ||
            say "offline images: not built yet; the first make run builds them (cold about 20 min on 2 cores)"
          exit 0
        fi
        offline_images "$@"
        UP_ARGS=(--config "$OFFLINE_CONFIG" "$@")
      fi
    fi
    [ "$cmd" = path ] && exit 0
    ms=$((($(date +%s%N) - T0) / 1000000))
    say "kindstack up starts after $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s of checks and builds"
    if [ "$ENGINE_KIND" = private ]; then
      say "the cluster lives in kindstack's private engine: export DOCKER_HOST=unix://$DOCKER_SOCK for kindstack and docker commands (make -s engine-env prints it); make engine-stop stops it, make engine-remove deletes it"
    fi
    exec "$KINDSTACK" up "${UP_ARGS[@]}"
    ;;
  offline-images)
    [ -x "$KINDSTACK" ] || die "$KINDSTACK is missing: run make build"
    START=1 pick_engine
    say "engine: $ENGINE_NOTE"
    offline_images "$@"
    ;;
  config)
    [ -x "$KINDSTACK" ] || die "$KINDSTACK is missing: run make build"
    write_config "$@"
    cat "$OFFLINE_CONFIG"
    ;;
  engine-env)
    if e=$(user_engine); then
      echo "# the engine that answers now ($e) is yours: nothing to export"
    else
      printf 'export DOCKER_HOST=unix://%s\n' "$DOCKER_SOCK"
    fi
    ;;
  engine-stop) bash "$TESTBED/setup.sh" stop ;;
  engine-remove) bash "$TESTBED/setup.sh" remove ;;
  *) echo "usage: $0 [up|path|config|offline-images|engine-env|engine-stop|engine-remove] [kindstack flags...]" >&2; exit 2 ;;
esac
