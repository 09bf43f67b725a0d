#!/usr/bin/env bash
# Builds kindstack's stand-in images (e2e/standins) for the air-gapped test bed, idempotently:
# an image whose source-hash label matches the current sources is not rebuilt.
#
# Usage: e2e/testbed/standins.sh [subcommand ...]     (default: all)
#   binaries   static Go binaries (CGO_ENABLED=0) -> $TESTBED_DIR/standins/bin/<hash>/
#   rootfs     debootstrap Debian bookworm + postgresql-15 -> $TESTBED_DIR/standins/postgres-rootfs (cached)
#   images     the five images in the PRIVATE dockerd (start it with `setup.sh docker`)
#   archives   `docker save` each image -> $TESTBED_DIR/images/standins/<name>.tar (for `kind load image-archive`)
#   unit       go test ./... in e2e/standins (no cluster, no database)
#   check      run the postgres image; run the stand-ins' unit suite (unit) with the backend store
#              against it; test the backend/frontend images; check the controller keeps its capability
#   list       print the image names
#   all        binaries rootfs images
#
# Images (kindstack's `images:` map in e2e/testdata/airgap.yaml points at them):
#   kindstack.test/ingress-nginx-controller:dev   registry.k8s.io/ingress-nginx/controller
#   kindstack.test/kube-webhook-certgen:dev       registry.k8s.io/ingress-nginx/kube-webhook-certgen
#   kindstack.test/example-backend:dev            lyzhang1999/backend
#   kindstack.test/example-frontend:dev           lyzhang1999/frontend
#   kindstack.test/postgres:dev                   postgres (Debian's PostgreSQL 15)
source "$(dirname "$0")/lib.sh"
export GOTOOLCHAIN=local
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../standins" && pwd)
WORK=$TESTBED_DIR/standins
HASH_LABEL=dev.kindstack.standins.source-hash

IMG_CONTROLLER=kindstack.test/ingress-nginx-controller:dev
IMG_CERTGEN=kindstack.test/kube-webhook-certgen:dev
IMG_BACKEND=kindstack.test/example-backend:dev
IMG_FRONTEND=kindstack.test/example-frontend:dev
IMG_POSTGRES=kindstack.test/postgres:dev
ALL_IMAGES=("$IMG_CONTROLLER" "$IMG_CERTGEN" "$IMG_BACKEND" "$IMG_FRONTEND" "$IMG_POSTGRES")

POSTGRES_PACKAGES=postgresql-15,ca-certificates
POSTGRES_ROOTFS=$WORK/postgres-rootfs

# tree_hash DIR...: one hash of the paths and contents of every file under DIR (plus the Go
# version, since it shapes the binaries).
tree_hash() {
  { printf '%s\n' "$GO_VERSION"; find "$@" -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16
}

# The recipes below are part of what an image is built from, so this script is hashed too.
GO_HASH=$(tree_hash "$SRC" "$HERE/standins.sh")
PG_HASH=$( { printf '%s\n' "$POSTGRES_PACKAGES"; tree_hash "$SRC/images/postgres" "$HERE/standins.sh"; } | sha256sum | cut -c1-16)
BIN=$WORK/bin/$GO_HASH

do_binaries() {
  local cmds=(ingress-controller certgen backend frontend) c
  if [ -f "$BIN/.complete" ]; then
    log "binaries up to date ($BIN)"
    return 0
  fi
  # Binaries of older sources are not needed any more.
  find "$WORK/bin" -mindepth 1 -maxdepth 1 -type d ! -name "$GO_HASH" -exec rm -rf {} + 2>/dev/null || true
  mkdir -p "$BIN"
  for c in "${cmds[@]}"; do
    log "building $c"
    (cd "$SRC" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$BIN/$c" "./cmd/$c")
  done
  touch "$BIN/.complete"
  log "binaries in $BIN"
}

do_rootfs() {
  if [ -f "$POSTGRES_ROOTFS/.kindstack-complete" ]; then
    log "postgres rootfs cached ($POSTGRES_ROOTFS)"
  else
    need_packages debootstrap:debootstrap
    local mirror
    mirror=$(debian_mirror)
    log "debootstrap $DEBIAN_SUITE with $POSTGRES_PACKAGES from $mirror (about 1-6 min)"
    rm -rf "$POSTGRES_ROOTFS.tmp"
    mkdir -p "$WORK"
    debootstrap --variant=minbase --include="$POSTGRES_PACKAGES" "$DEBIAN_SUITE" "$POSTGRES_ROOTFS.tmp" "$mirror" \
      >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; return 1; }
    touch "$POSTGRES_ROOTFS.tmp/.kindstack-complete"
    mv "$POSTGRES_ROOTFS.tmp" "$POSTGRES_ROOTFS"
  fi
  # The package's own cluster (pg_createcluster main) is not used: the entrypoint runs initdb.
  rm -rf "$POSTGRES_ROOTFS/var/lib/postgresql/15" "$POSTGRES_ROOTFS/etc/postgresql/15"
  mkdir -p "$POSTGRES_ROOTFS/docker-entrypoint-initdb.d" "$POSTGRES_ROOTFS/var/lib/postgresql/data" "$POSTGRES_ROOTFS/var/run/postgresql"
  chroot "$POSTGRES_ROOTFS" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
  chroot "$POSTGRES_ROOTFS" /usr/lib/postgresql/15/bin/postgres --version >&2
}

# image_current TAG HASH: the image exists and was built from these sources.
image_current() {
  [ "$(docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$1" 2>/dev/null)" = "$2" ]
}

# build_image TAG HASH CONTEXT: legacy builder (works offline, no buildx), labelled with HASH.
build_image() {
  quiet_build --label "$HASH_LABEL=$2" -t "$1" "$3"
  log "built $1"
}

# quiet_build ARGS...: `docker build` with the legacy builder; its output only on failure. Then
# removes our own images that the new build left untagged (other images are never touched).
quiet_build() {
  local out
  out=$(DOCKER_BUILDKIT=0 docker build "$@" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
  docker images -q --filter dangling=true --filter "label=$HASH_LABEL" | xargs -r docker rmi >/dev/null 2>&1 || true
}

# scratch_image TAG DOCKERFILE FILE...: a FROM scratch image of the given binaries.
scratch_image() {
  local tag=$1 dockerfile=$2
  shift 2
  if image_current "$tag" "$GO_HASH"; then
    log "$tag up to date"
    return 0
  fi
  local ctx=$WORK/ctx/${tag//[\/:]/_}
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$@" "$ctx/"
  printf '%s\n' "$dockerfile" >"$ctx/Dockerfile"
  # The real controller binds 80/443 as user 101 with only NET_BIND_SERVICE in its bounding set:
  # that works because its binary carries the file capability, so ours does too. The legacy
  # builder's COPY drops xattrs, but ADD of a tar keeps security.capability in the layer (and
  # containerd applies it on unpack), so the binaries go in as caps.tar.
  if [ -f "$ctx/nginx-ingress-controller" ]; then
    need_packages setcap:libcap2-bin
    setcap cap_net_bind_service=+ep "$ctx/nginx-ingress-controller"
    cp -a "$ctx/nginx-ingress-controller" "$ctx/wait-shutdown"
    tar --xattrs --xattrs-include='security.capability' --owner=0 --group=0 -C "$ctx" \
      -cf "$ctx/caps.tar" nginx-ingress-controller wait-shutdown
  fi
  build_image "$tag" "$GO_HASH" "$ctx"
  rm -rf "$ctx"
}

do_images() {
  docker_env
  docker version >/dev/null 2>&1 || { echo "standins: private dockerd not answering at $DOCKER_SOCK (run e2e/testbed/setup.sh docker)" >&2; return 1; }
  [ -f "$BIN/.complete" ] || do_binaries
  cp "$BIN/ingress-controller" "$WORK/nginx-ingress-controller"
  cp "$BIN/certgen" "$WORK/kube-webhook-certgen"
  # No ENTRYPOINT: the manifest's args begin with /nginx-ingress-controller, as with the real image
  # (whose dumb-init entrypoint runs them). /wait-shutdown is the preStop hook.
  scratch_image "$IMG_CONTROLLER" 'FROM scratch
ADD caps.tar /
USER 101:82
EXPOSE 80 443 8443 10254
CMD ["/nginx-ingress-controller"]' "$WORK/nginx-ingress-controller"
  scratch_image "$IMG_CERTGEN" 'FROM scratch
COPY kube-webhook-certgen /kube-webhook-certgen
USER 65532:65532
ENTRYPOINT ["/kube-webhook-certgen"]' "$WORK/kube-webhook-certgen"
  scratch_image "$IMG_BACKEND" 'FROM scratch
COPY backend /backend
EXPOSE 5000
ENTRYPOINT ["/backend"]' "$BIN/backend"
  scratch_image "$IMG_FRONTEND" 'FROM scratch
COPY frontend /frontend
EXPOSE 3000
ENTRYPOINT ["/frontend"]' "$BIN/frontend"
  rm -f "$WORK/nginx-ingress-controller" "$WORK/kube-webhook-certgen"

  if image_current "$IMG_POSTGRES" "$PG_HASH"; then
    log "$IMG_POSTGRES up to date"
    return 0
  fi
  do_rootfs
  # The imported rootfs only changes with the package list or the rootfs recipe.
  local base old
  base=kindstack.test/postgres-rootfs:$( { printf '%s\n' "$POSTGRES_PACKAGES"; declare -f do_rootfs; } | sha256sum | cut -c1-16)
  for old in $(docker images --format '{{.Repository}}:{{.Tag}}' kindstack.test/postgres-rootfs); do
    [ "$old" = "$base" ] || docker rmi "$old" >/dev/null 2>&1 || true
  done
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    log "importing the postgres rootfs as $base"
    tar -C "$POSTGRES_ROOTFS" --numeric-owner \
      --exclude=./.kindstack-complete --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
      --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*' \
      --exclude='./usr/share/doc/*' --exclude='./usr/share/man/*' --exclude='./usr/share/locale/*' \
      -c . | docker import - "$base" >/dev/null
  fi
  quiet_build --build-arg "ROOTFS_IMAGE=$base" --label "$HASH_LABEL=$PG_HASH" -t "$IMG_POSTGRES" "$SRC/images/postgres"
  log "built $IMG_POSTGRES"
}

do_archives() {
  docker_env
  local dir=$TESTBED_DIR/images/standins img hash out
  mkdir -p "$dir"
  for img in "${ALL_IMAGES[@]}"; do
    hash=$(docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$img")
    out=$dir/$(basename "${img%%:*}").tar
    if [ -f "$out" ] && [ "$(cat "$out.hash" 2>/dev/null)" = "$hash" ]; then
      continue
    fi
    docker save -o "$out.tmp" "$img" && mv "$out.tmp" "$out" && printf '%s\n' "$hash" >"$out.hash"
    log "saved $img -> $out"
  done
}

do_unit() {
  (cd "$SRC" && go vet ./... && go test -count=1 ./...)
}

# check_controller_caps: the file capability survived into the image layer.
check_controller_caps() {
  local dir=$WORK/check-caps
  rm -rf "$dir" && mkdir -p "$dir"
  docker save "$IMG_CONTROLLER" | tar -x -C "$dir"
  local layer
  for layer in $(find "$dir" -name '*.tar' -o -path '*/blobs/sha256/*' -type f); do
    tar --xattrs --xattrs-include='security.*' -x -C "$dir" -f "$layer" nginx-ingress-controller 2>/dev/null || true
  done
  need_packages getcap:libcap2-bin
  local caps
  caps=$(getcap "$dir/nginx-ingress-controller" 2>/dev/null || true)
  rm -rf "$dir"
  case $caps in
    *cap_net_bind_service*) log "controller binary in the image keeps: ${caps##* }" ;;
    *) echo "standins: /nginx-ingress-controller lost its file capability in $IMG_CONTROLLER; it cannot bind :80 as user 101" >&2; return 1 ;;
  esac
  # Run it with the manifest's securityContext (user 101, drop ALL, add NET_BIND_SERVICE, no new
  # privileges): it must bind :80/:443 (before any API answer; the kubeconfig points nowhere).
  # Without NET_BIND_SERVICE it must fail, which shows the check can fail.
  local kc=$WORK/check-kubeconfig
  printf 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {token: x}}]\n' >"$kc"
  chmod 644 "$kc"
  local add state
  for add in NET_BIND_SERVICE none; do
    docker rm -f kindstack-standin-ctrl >/dev/null 2>&1 || true
    docker run -d --name kindstack-standin-ctrl --network none --user 101:82 --cap-drop ALL \
      $([ $add = none ] || echo --cap-add $add) --security-opt no-new-privileges -v "$kc:/kubeconfig:ro" \
      "$IMG_CONTROLLER" /nginx-ingress-controller --kubeconfig=/kubeconfig --publish-status-address=localhost >/dev/null
    sleep 3
    state=$(docker inspect -f '{{.State.Running}}' kindstack-standin-ctrl)
    if [ $add = none ]; then
      [ "$state" = false ] && docker logs kindstack-standin-ctrl 2>&1 | grep -qE 'permission denied|operation not permitted' ||
        { docker logs kindstack-standin-ctrl >&2; echo "standins: controller without NET_BIND_SERVICE did not fail to bind :80" >&2; return 1; }
    else
      [ "$state" = true ] || { docker logs kindstack-standin-ctrl >&2; echo "standins: controller as user 101 cannot serve :80/:443" >&2; return 1; }
    fi
  done
  docker rm -f kindstack-standin-ctrl >/dev/null
  rm -f "$kc"
  log "controller binds :80/:443 as user 101 with only NET_BIND_SERVICE (and fails without it)"
}

# wait_http URL: until it answers 2xx or 30 s pass.
wait_http() {
  local i
  for i in $(seq 60); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.5
  done
  echo "standins: $1 did not answer" >&2
  return 1
}

do_check() {
  docker_env
  need_packages curl:curl
  check_controller_caps
  local pgport=55432 beport=55000 feport=53000 init=$WORK/check-initdb
  local names=(kindstack-standin-pg kindstack-standin-backend kindstack-standin-frontend)
  docker rm -f "${names[@]}" >/dev/null 2>&1 || true
  mkdir -p "$init"
  # The example's init script (FACTS §1.2), as the ConfigMap mounts it.
  printf 'CREATE TABLE text (\n    id serial PRIMARY KEY,\n    text VARCHAR ( 100 ) UNIQUE NOT NULL\n);' >"$init/CreateDB.sql"
  # Host network: the private dockerd has no bridge. Ports are unusual to avoid clashes.
  docker run -d --name kindstack-standin-pg --network host -e POSTGRES_USER=postgres -e POSTGRES_PASSWORD=postgres \
    -v "$init:/docker-entrypoint-initdb.d:ro" "$IMG_POSTGRES" postgres -c port=$pgport >/dev/null
  local ok=""
  for _ in $(seq 60); do
    if docker exec kindstack-standin-pg sh -c "exec pg_isready --host=127.0.0.1 --port=$pgport --username=postgres --dbname=postgres" >/dev/null 2>&1; then
      ok=1
      break
    fi
    sleep 1
  done
  [ -n "$ok" ] || { docker logs kindstack-standin-pg >&2; echo "standins: postgres never became ready" >&2; return 1; }
  docker exec kindstack-standin-pg psql -U postgres -h 127.0.0.1 -p $pgport -tAc "select count(*) from text" >/dev/null ||
    { docker logs kindstack-standin-pg >&2; echo "standins: the init script did not create table text" >&2; return 1; }
  log "postgres ready: $(docker exec kindstack-standin-pg psql -tA -U postgres -h 127.0.0.1 -p $pgport -c 'select version()' 2>/dev/null | cut -c1-40)"

  # Connect through a non-loopback address: that is the scram-sha-256 line of pg_hba.conf, as for
  # pods reaching pg-service (127.0.0.1 is trusted, as in the official image).
  local ip
  ip=$(hostname -I | awk '{print $1}')
  if docker exec -e PGPASSWORD=wrong kindstack-standin-pg psql -U postgres -h "$ip" -p $pgport -c 'select 1' >/dev/null 2>&1; then
    echo "standins: postgres accepted a wrong password from $ip" >&2
    return 1
  fi
  local dsn="postgresql://postgres:postgres@$ip:$pgport/postgres"
  # The stand-ins' own unit suite, with the real database for the backend's store.
  KINDSTACK_TEST_POSTGRES_DSN=$dsn do_unit || { docker rm -f "${names[@]}" >/dev/null 2>&1; return 1; }

  docker run -d --name kindstack-standin-backend --network host -e DATABASE_URI=$ip:$pgport \
    -e DATABASE_USERNAME=postgres -e DATABASE_PASSWORD=postgres -e FLASK_RUN_PORT=$beport "$IMG_BACKEND" >/dev/null
  docker run -d --name kindstack-standin-frontend --network host -e PORT=$feport "$IMG_FRONTEND" >/dev/null
  wait_http "http://127.0.0.1:$beport/healthy"
  wait_http "http://127.0.0.1:$feport/"
  local be=http://127.0.0.1:$beport out
  out=$(curl -fsS -X DELETE "$be/delete") && [ "$out" = Done ]
  out=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"text":"smoke-check"}' "$be/add") && [ "$out" = 201 ]
  out=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"text":"smoke-check"}' "$be/add") && [ "$out" = 500 ]
  out=$(curl -fsS "$be/fetch") && [ "$out" = '{"texts":[{"text":"smoke-check"}]}' ]
  curl -fsS "http://127.0.0.1:$feport/some/route" | grep -q '<title>React App</title>'
  # The backend refuses to start without its environment, like the Flask app.
  if docker run --rm --network none "$IMG_BACKEND" >/dev/null 2>&1; then
    echo "standins: backend started without DATABASE_* env" >&2
    return 1
  fi
  docker rm -f "${names[@]}" >/dev/null
  rm -rf "$init"
  log "check passed: postgres init script + password auth, backend store/routes, frontend HTML, controller caps"
}

do_list() { printf '%s\n' "${ALL_IMAGES[@]}"; }

[ $# -gt 0 ] || set -- all
for cmd in "$@"; do
  case $cmd in
    binaries) do_binaries ;;
    rootfs) do_rootfs ;;
    images) do_images ;;
    archives) do_archives ;;
    unit) do_unit ;;
    check) do_check ;;
    list) do_list ;;
    all) do_binaries; do_rootfs; do_images ;;
    *) echo "usage: $0 [binaries|rootfs|images|archives|unit|check|list|all] ..." >&2; exit 2 ;;
  esac
done
