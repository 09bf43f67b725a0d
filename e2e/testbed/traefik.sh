#!/usr/bin/env bash
# Real Traefik and the Gateway API conformance suite for the air-gapped test bed, from the Go
# module proxy only, cached under $TESTBED_DIR (binaries keyed by Go version via $BIN_DIR and by a
# hash of their wrapper module; images by a hash label), so a warm run does nothing.
#
# Usage: e2e/testbed/traefik.sh [subcommand ...]     (default: all)
#   binary       Traefik $TRAEFIK_VERSION from the wrapper module e2e/testbed/traefik
#                -> $BIN_DIR/traefik-$TRAEFIK_VERSION/traefik
#   image        $TRAEFIK_IMAGE (FROM scratch) in the PRIVATE dockerd (`setup.sh docker`)
#                -> $TESTBED_DIR/images/traefik-$TRAEFIK_VERSION.tar
#   conformance  the suite's echo-basic and CoreDNS images under the names its manifests use, the
#                suite's test binary from e2e/conformance, and one archive of those images
#   check        smoke test: Traefik as user 65532 (read-only, no /etc/passwd) answers /ping,
#                echo-basic answers, the test binary lists TestConformance
#   paths        print TRAEFIK_IMAGE=... TRAEFIK_ARCHIVE=... CONFORMANCE_TEST=...
#                CONFORMANCE_ARCHIVE=... GATEWAY_API_VERSION=... (no work; the e2e tests read it)
#   mod          maintainers: regenerate e2e/testbed/traefik/go.mod and go.sum from Traefik's go.mod
#                (after changing TRAEFIK_VERSION or the replacements below)
#   all          binary image conformance
# A summary of what each stage did and how long it took is printed at the end and appended to
# $TESTBED_DIR/timings.log.
source "$(dirname "$0")/lib.sh"
export GOTOOLCHAIN=local
HERE=$(cd "$(dirname "$0")" && pwd)

TRAEFIK_PKG=github.com/traefik/traefik/v3/cmd/traefik
TRAEFIK_LDFLAGS="-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION"
TRAEFIK_MOD_DIR=$HERE/traefik
TRAEFIK_BUILD_DIR=$TESTBED_DIR/src/traefik-$TRAEFIK_VERSION
TRAEFIK_BIN=$BIN_DIR/traefik-$TRAEFIK_VERSION/traefik
TRAEFIK_ARCHIVE=$TESTBED_DIR/images/traefik-$TRAEFIK_VERSION.tar
LEGO_VERSION=v5.4.1 # the lego v5 Traefik v3.7.13 requires; patched copy, see patch_lego

CONF_MOD_DIR=$(cd "$HERE/../conformance" && pwd)
CONF_BIN_DIR=$BIN_DIR/gateway-conformance-$GATEWAY_API_VERSION
CONFORMANCE_TEST=$CONF_BIN_DIR/conformance.test
ECHO_BASIC_BIN=$CONF_BIN_DIR/echo-basic
CONFORMANCE_ARCHIVE=$TESTBED_DIR/images/gateway-conformance-$GATEWAY_API_VERSION.tar
ECHO_BASIC_IMAGE=kindstack.test/echo-basic:$GATEWAY_API_VERSION
COREDNS_FALLBACK_IMAGE=kindstack.test/coredns:$COREDNS_VERSION
# Every image the suite's manifests name (`image:` lines in the conformance module), checked by
# conformance_images: the build fails when the module names another set.
SUITE_ECHO_BASIC_IMAGES=(
  registry.k8s.io/gateway-api/echo-basic:v1.5.1
  registry.k8s.io/gateway-api/echo-basic:v1.6.0-dev.2
  registry.k8s.io/gateway-api/echo-basic:v1.6.0-dev.3
)
SUITE_COREDNS_IMAGES=(registry.k8s.io/coredns/coredns:v1.12.2)
# Named only by mesh/manifests.yaml, which the suite applies for the MESH profiles alone; not
# provided (GATEWAY-* profiles never use it).
SUITE_UNPROVIDED_IMAGES=(registry.k8s.io/gateway-api/echo-advanced:v1.5.1)

# tree_hash DIR: one hash of the relative paths and contents of every file under DIR (plus the Go
# version), the same in every checkout.
tree_hash() {
  (printf '%s\n' "$GO_VERSION" && cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

# file_sha FILE: FILE's sha256, remembered in FILE.sha256 for as long as its size and mtime stay
# (hashing the 172 MB Traefik binary on every warm run costs a second).
file_sha() {
  local f=$1 id sum
  id=$(stat -c '%s %Y' "$f")
  if [ "$(sed -n 1p "$f.sha256" 2>/dev/null)" = "$id" ]; then
    sed -n 2p "$f.sha256"
    return 0
  fi
  sum=$(sha256sum <"$f" | cut -d' ' -f1)
  printf '%s\n%s\n' "$id" "$sum" >"$f.sha256" 2>/dev/null || true
  printf '%s\n' "$sum"
}

# save_archive OUT IMAGE...: `docker save` IMAGE... to OUT unless OUT already holds exactly these
# images (names and IDs, recorded in OUT.hash).
save_archive() {
  local out=$1 key
  shift
  key=$(for img in "$@"; do printf '%s=%s\n' "$img" "$(docker image inspect -f '{{.Id}}' "$img")"; done | sort | sha256sum | cut -c1-16)
  if [ -f "$out" ] && [ "$(cat "$out.hash" 2>/dev/null)" = "$key" ]; then
    return 1
  fi
  mkdir -p "$(dirname "$out")"
  docker save -o "$out.tmp" "$@"
  mv "$out.tmp" "$out"
  printf '%s\n' "$key" >"$out.hash"
  log "saved $* -> $out ($(du -h "$out" | cut -f1))"
}

# module_dir MODULE@VERSION: the module's directory in the module cache (downloads it; outside any
# module, so no replace applies).
module_dir() { (cd / && go mod download -json "$1" | jq -r .Dir); }

# ---------------------------------------------------------------------------------------------
# Traefik binary

# Replacements of the wrapper module: Traefik's own two forks (go-http-auth at a served 2020
# pseudo-version: every API Traefik calls is in it), the nested ext module by our stand-in, lego v5
# by the copy patch_lego makes, and the ACME DNS SDKs whose wanted versions the module proxy refuses
# by served older ones (each compiles with lego).
TRAEFIK_REPLACES=(
  "github.com/traefik/traefik/dynamic/ext => ./ext"
  "github.com/go-acme/lego/v5 => ./lego"
  "github.com/gorilla/mux => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59"
  "github.com/abbot/go-http-auth => github.com/containous/go-http-auth v0.4.1-0.20200324110947-a37a7636d23e"
  "github.com/ucloud/ucloud-sdk-go => github.com/ucloud/ucloud-sdk-go v0.22.90"
  "github.com/akamai/AkamaiOPEN-edgegrid-golang/v13 => github.com/akamai/AkamaiOPEN-edgegrid-golang/v13 v13.1.0"
  "github.com/aziontech/azionapi-go-sdk => github.com/aziontech/azionapi-go-sdk v0.144.0"
  "github.com/dnsimple/dnsimple-go/v9 => github.com/dnsimple/dnsimple-go/v9 v9.1.0"
  "github.com/go-acme/tencentclouddnspod => github.com/go-acme/tencentclouddnspod v1.3.24"
  "github.com/go-acme/tencentedgdeone => github.com/go-acme/tencentedgdeone v1.3.38"
  "github.com/huaweicloud/huaweicloud-sdk-go-v3 => github.com/huaweicloud/huaweicloud-sdk-go-v3 v0.1.207"
  "github.com/nrdcg/oci-go-sdk/common/v1065 => github.com/nrdcg/oci-go-sdk/common/v1065 v1065.113.0"
  "github.com/nrdcg/oci-go-sdk/dns/v1065 => github.com/nrdcg/oci-go-sdk/dns/v1065 v1065.113.0"
  "github.com/yandex-cloud/go-sdk/services/dns => github.com/yandex-cloud/go-sdk/services/dns v0.0.54"
)
# lego DNS providers whose SDKs have no served version with the API lego uses: patch_lego removes
# them and their SDKs' requirements.
LEGO_DROPPED_PROVIDERS=(regfish sakuracloud)
LEGO_DROPPED_MODULES=(github.com/regfish/regfish-dnsapi-go github.com/sacloud/sacloud-sdk-go)
# SDKs lego wants at a major version the proxy does not serve: patch_lego points lego's imports and
# requirement at the served older major (FROM=TO@VERSION), which is also the one lego v4 (another
# Traefik requirement) uses. A path-changing `replace FROM => TO VERSION` cannot do it: TO@VERSION is
# in the build list itself, and Go refuses one module version for two paths.
LEGO_MAJOR_SWAPS=(
  github.com/go-acme/alidns-20150109/v5=github.com/go-acme/alidns-20150109/v4@v4.7.0
  github.com/go-acme/esa-20240910/v3=github.com/go-acme/esa-20240910/v2@v2.48.0
)
# Traefik's requirements the wrapper does not repeat: the modules the patched lego no longer needs.
WRAPPER_DROPPED_MODULES=("${LEGO_DROPPED_MODULES[@]}" "${LEGO_MAJOR_SWAPS[@]%%=*}")

# patch_lego DIR: lego $LEGO_VERSION from the module cache, copied to DIR without the DNS providers
# LEGO_DROPPED_PROVIDERS (their names are then unknown to Traefik's dnsChallenge in this build only)
# and with LEGO_MAJOR_SWAPS applied. Done once per recipe (stamp DIR/.kindstack-patch).
patch_lego() {
  local dir=$1 stamp src gen p m swap from to files
  stamp=$( { printf '%s\n' "$LEGO_VERSION" "${LEGO_DROPPED_MODULES[@]}" "${LEGO_DROPPED_PROVIDERS[@]}" "${LEGO_MAJOR_SWAPS[@]}"; declare -f patch_lego; } | sha256sum | cut -c1-16)
  [ "$(cat "$dir/.kindstack-patch" 2>/dev/null)" = "$stamp" ] && return 0
  src=$(module_dir "github.com/go-acme/lego/v5@$LEGO_VERSION")
  rm -rf "$dir" "$dir.tmp"
  cp -r "$src" "$dir.tmp"
  chmod -R u+w "$dir.tmp"
  gen=$dir.tmp/providers/dns/zz_gen_dns_providers.go
  for p in "${LEGO_DROPPED_PROVIDERS[@]}"; do
    if [ ! -d "$dir.tmp/providers/dns/$p" ] ||
      [ "$(grep -cE "^[[:space:]]+\"github.com/go-acme/lego/v5/providers/dns/$p\"\$|^[[:space:]]+case \"$p\":\$" "$gen")" != 2 ]; then
      echo "traefik.sh: lego $LEGO_VERSION: provider $p is not where patch_lego expects it" >&2
      return 1
    fi
    rm -rf "$dir.tmp/providers/dns/$p"
    # The import line, and the case arm with the return line after it.
    sed -i -E "/^[[:space:]]+\"github.com\/go-acme\/lego\/v5\/providers\/dns\/$p\"\$/d; /^[[:space:]]+case \"$p\":\$/{N;d}" "$gen"
  done
  ! grep -qE "$(IFS='|'; echo "${LEGO_DROPPED_PROVIDERS[*]}")" "$gen" ||
    { echo "traefik.sh: $gen still names a removed provider" >&2; return 1; }
  for m in "${LEGO_DROPPED_MODULES[@]}"; do
    grep -qE "^[[:space:]]+$m v" "$dir.tmp/go.mod" || { echo "traefik.sh: lego $LEGO_VERSION does not require $m" >&2; return 1; }
    sed -i -E "\|^[[:space:]]+$m v|d" "$dir.tmp/go.mod"
  done
  for swap in "${LEGO_MAJOR_SWAPS[@]}"; do
    from=${swap%%=*} to=${swap#*=}
    files=$(grep -rlF --include='*.go' "\"$from/" "$dir.tmp" || true)
    if [ -z "$files" ] || ! grep -qE "^[[:space:]]+$from v" "$dir.tmp/go.mod"; then
      echo "traefik.sh: lego $LEGO_VERSION does not use $from" >&2
      return 1
    fi
    # shellcheck disable=SC2086
    sed -i "s|\"$from/|\"${to%@*}/|g" $files
    sed -i -E "s|^([[:space:]]+)$from v[^[:space:]]+|\1${to%@*} ${to#*@}|" "$dir.tmp/go.mod"
  done
  printf '%s\n' "$stamp" >"$dir.tmp/.kindstack-patch"
  mv "$dir.tmp" "$dir"
  log "patched lego $LEGO_VERSION into $dir (without ${LEGO_DROPPED_PROVIDERS[*]})"
}

# traefik_build_dir: the wrapper module (go.mod, go.sum, ext/ from the repository) plus the patched
# lego, in the cache: the build never writes into the checkout.
traefik_build_dir() {
  mkdir -p "$TRAEFIK_BUILD_DIR"
  rm -rf "$TRAEFIK_BUILD_DIR/ext"
  cp -r "$TRAEFIK_MOD_DIR/go.mod" "$TRAEFIK_MOD_DIR/go.sum" "$TRAEFIK_MOD_DIR/ext" "$TRAEFIK_BUILD_DIR/"
  patch_lego "$TRAEFIK_BUILD_DIR/lego"
}

traefik_source_hash() {
  { tree_hash "$TRAEFIK_MOD_DIR"; printf '%s\n' "$TRAEFIK_LDFLAGS"; declare -f patch_lego; } | sha256sum | cut -c1-16
}

do_binary() {
  local hash
  hash=$(traefik_source_hash)
  if [ -x "$TRAEFIK_BIN" ] && [ "$(cat "$TRAEFIK_BIN.source-hash" 2>/dev/null)" = "$hash" ]; then
    RESULT="cached $TRAEFIK_BIN"
    return 0
  fi
  need_packages jq:jq
  grep -qE "^require github.com/traefik/traefik/v3 $TRAEFIK_VERSION\$" "$TRAEFIK_MOD_DIR/go.mod" ||
    { echo "traefik.sh: $TRAEFIK_MOD_DIR/go.mod does not require Traefik $TRAEFIK_VERSION (run traefik.sh mod)" >&2; return 1; }
  traefik_build_dir
  mkdir -p "$(dirname "$TRAEFIK_BIN")"
  local t0 t1 t2
  t0=$(date +%s)
  # Loading the command's packages downloads exactly the modules the build needs; -mod=readonly:
  # the committed go.mod/go.sum decide every version and hash, nothing is resolved anew.
  (cd "$TRAEFIK_BUILD_DIR" && go list -mod=readonly -deps "$TRAEFIK_PKG" >/dev/null)
  t1=$(date +%s)
  log "modules for $TRAEFIK_PKG ready in $((t1 - t0))s; building (about 6 min cold on 2 cores)"
  (cd "$TRAEFIK_BUILD_DIR" &&
    heavy env CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$TRAEFIK_LDFLAGS" -o "$TRAEFIK_BIN.tmp" "$TRAEFIK_PKG")
  t2=$(date +%s)
  local v
  v=$("$TRAEFIK_BIN.tmp" version) || { echo "traefik.sh: the new binary does not run" >&2; return 1; }
  grep -qE "^Version: +$TRAEFIK_VERSION\$" <<<"$v" || { printf '%s\n' "$v" >&2; echo "traefik.sh: wrong version stamp" >&2; return 1; }
  mv "$TRAEFIK_BIN.tmp" "$TRAEFIK_BIN"
  printf '%s\n' "$hash" >"$TRAEFIK_BIN.source-hash"
  RESULT="built $TRAEFIK_BIN ($(du -h "$TRAEFIK_BIN" | cut -f1); modules $((t1 - t0))s, build $((t2 - t1))s)"
}

# do_mod regenerates the wrapper's go.mod from Traefik's: Traefik as the one direct requirement and
# all of Traefik's own requirements as roots (with only the one, the unpruned part of the graph
# pulls the 2019 monolithic genproto and fails with "ambiguous import"), the replacements above and
# Traefik's exclude. Then go.sum is filled by loading the command's packages once.
do_mod() {
  need_packages jq:jq
  local tmod lego
  tmod=$( (cd / && go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION") | jq -r .GoMod)
  lego=$(awk '$1 == "github.com/go-acme/lego/v5" {print $2}' "$tmod")
  [ "$lego" = "$LEGO_VERSION" ] || { echo "traefik.sh: Traefik $TRAEFIK_VERSION wants lego v5 $lego, LEGO_VERSION is $LEGO_VERSION" >&2; return 1; }
  local out=$TRAEFIK_BUILD_DIR/go.mod r
  mkdir -p "$TRAEFIK_BUILD_DIR"
  {
    printf '%s\n' "// Wrapper module of the test bed's Traefik build (e2e/testbed/traefik.sh binary). Generated by" \
      "// \`traefik.sh mod\` from Traefik $TRAEFIK_VERSION's go.mod: do not edit by hand. ./lego is the patched" \
      "// lego copy traefik.sh makes next to a copy of this module in the test bed cache; ./ext is ours." \
      "module github.com/kindstack/kindstack/e2e/testbed/traefik" "" "go 1.26.0" "" \
      "tool $TRAEFIK_PKG" "" "require github.com/traefik/traefik/v3 $TRAEFIK_VERSION" "" \
      "// Traefik $TRAEFIK_VERSION's own requirements, as roots." "require ("
    awk -v drop="$(IFS='|'; echo "${WRAPPER_DROPPED_MODULES[*]}")" '
      /^require \($/ { inreq = 1; next }
      inreq && /^\)/ { inreq = 0; next }
      inreq && NF >= 2 { if ($1 !~ "^(" drop ")$") print "\t" $1 " " $2 " // indirect"; next }
      /^require [^(]/ { if ($2 !~ "^(" drop ")$") print "\t" $2 " " $3 " // indirect" }
    ' "$tmod"
    printf ')\n\nreplace (\n'
    for r in "${TRAEFIK_REPLACES[@]}"; do printf '\t%s\n' "$r"; done
    printf ')\n\n'
    awk '/^exclude [^(]/ { print } /^exclude \($/, /^\)/ { print }' "$tmod"
  } >"$out"
  : >"$TRAEFIK_BUILD_DIR/go.sum"
  rm -rf "$TRAEFIK_BUILD_DIR/ext"
  cp -r "$TRAEFIK_MOD_DIR/ext" "$TRAEFIK_BUILD_DIR/"
  patch_lego "$TRAEFIK_BUILD_DIR/lego"
  (cd "$TRAEFIK_BUILD_DIR" && go mod edit -fmt && go list -mod=mod -deps "$TRAEFIK_PKG" >/dev/null)
  cp "$TRAEFIK_BUILD_DIR/go.mod" "$TRAEFIK_BUILD_DIR/go.sum" "$TRAEFIK_MOD_DIR/"
  RESULT="wrote $TRAEFIK_MOD_DIR/go.mod ($(grep -c '// indirect' "$TRAEFIK_MOD_DIR/go.mod") roots) and go.sum ($(wc -l <"$TRAEFIK_MOD_DIR/go.sum") lines)"
}

# ---------------------------------------------------------------------------------------------
# Traefik image

TRAEFIK_DOCKERFILE='FROM scratch
COPY traefik /traefik
EXPOSE 80 443 8080
ENTRYPOINT ["/traefik"]'

do_image() {
  need_docker
  [ -x "$TRAEFIK_BIN" ] || { echo "traefik.sh: missing $TRAEFIK_BIN (run traefik.sh binary)" >&2; return 1; }
  local hash notes=()
  hash=$( { file_sha "$TRAEFIK_BIN"; printf '%s\n' "$TRAEFIK_DOCKERFILE"; } | sha256sum | cut -c1-16)
  # The pod sets the user (65532); nothing in the image names one, and Traefik needs no
  # /etc/passwd, so the image has none.
  if scratch_image "$TRAEFIK_IMAGE" "$hash" "$TRAEFIK_DOCKERFILE" "$TRAEFIK_BIN"; then
    local v
    v=$(docker run --rm --network none "$TRAEFIK_IMAGE" version) ||
      { echo "traefik.sh: $TRAEFIK_IMAGE does not start" >&2; return 1; }
    grep -qE "^Version: +$TRAEFIK_VERSION\$" <<<"$v" || { printf '%s\n' "$v" >&2; return 1; }
    notes+=("built $TRAEFIK_IMAGE (runs: $TRAEFIK_VERSION)")
  else
    notes+=("$TRAEFIK_IMAGE up to date")
  fi
  if save_archive "$TRAEFIK_ARCHIVE" "$TRAEFIK_IMAGE"; then
    notes+=("saved $TRAEFIK_ARCHIVE")
  else
    notes+=("archive cached")
  fi
  RESULT="${notes[*]}"
}

# ---------------------------------------------------------------------------------------------
# Gateway API conformance suite

# conformance_images: the `image:` names in the suite's manifests must be exactly the ones above.
conformance_images() {
  local dir want got
  dir=$(cd "$CONF_MOD_DIR" && go mod download -json sigs.k8s.io/gateway-api/conformance | jq -r .Dir)
  [ -d "$dir" ] || { echo "traefik.sh: no module directory for sigs.k8s.io/gateway-api/conformance" >&2; return 1; }
  got=$(grep -rhoE '^[[:space:]]*image:[[:space:]]*[^[:space:]]+' "$dir" | sed -E 's/^[[:space:]]*image:[[:space:]]*//; s/["'\'']//g' | sort -u)
  want=$(printf '%s\n' "${SUITE_ECHO_BASIC_IMAGES[@]}" "${SUITE_COREDNS_IMAGES[@]}" "${SUITE_UNPROVIDED_IMAGES[@]}" | sort -u)
  if [ "$got" != "$want" ]; then
    echo "traefik.sh: the images in $dir's manifests changed; update SUITE_*_IMAGES in traefik.sh:" >&2
    diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") >&2 || true
    return 1
  fi
}

conf_source_hash() { tree_hash "$CONF_MOD_DIR"; }

# conf_binaries: the suite's test binary and echo-basic, both from the e2e/conformance module.
conf_binaries() {
  local hash
  hash=$(conf_source_hash)
  if [ -x "$CONFORMANCE_TEST" ] && [ -x "$ECHO_BASIC_BIN" ] && [ "$(cat "$CONF_BIN_DIR/.source-hash" 2>/dev/null)" = "$hash" ]; then
    CONF_NOTES+=("binaries cached")
    return 0
  fi
  grep -qE "sigs.k8s.io/gateway-api/conformance $GATEWAY_API_VERSION( |\$)" "$CONF_MOD_DIR/go.mod" ||
    { echo "traefik.sh: $CONF_MOD_DIR/go.mod does not require the suite at $GATEWAY_API_VERSION" >&2; return 1; }
  mkdir -p "$CONF_BIN_DIR"
  rm -f "$CONF_BIN_DIR/.source-hash"
  local t0 t1 t2 t3
  t0=$(date +%s)
  (cd "$CONF_MOD_DIR" && go list -mod=readonly -deps -test . sigs.k8s.io/gateway-api/conformance/echo-basic >/dev/null)
  t1=$(date +%s)
  (cd "$CONF_MOD_DIR" && heavy env CGO_ENABLED=0 go test -mod=readonly -c -trimpath -o "$CONFORMANCE_TEST.tmp" .)
  t2=$(date +%s)
  (cd "$CONF_MOD_DIR" &&
    heavy env CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o "$ECHO_BASIC_BIN.tmp" sigs.k8s.io/gateway-api/conformance/echo-basic)
  t3=$(date +%s)
  "$CONFORMANCE_TEST.tmp" -test.list . | grep -qx TestConformance ||
    { echo "traefik.sh: $CONFORMANCE_TEST.tmp has no TestConformance" >&2; return 1; }
  mv "$CONFORMANCE_TEST.tmp" "$CONFORMANCE_TEST"
  mv "$ECHO_BASIC_BIN.tmp" "$ECHO_BASIC_BIN"
  printf '%s\n' "$hash" >"$CONF_BIN_DIR/.source-hash"
  CONF_NOTES+=("built $CONFORMANCE_TEST ($(du -h "$CONFORMANCE_TEST" | cut -f1); modules $((t1 - t0))s, build $((t2 - t1))s) and echo-basic ($((t3 - t2))s)")
}

ECHO_BASIC_DOCKERFILE='FROM scratch
COPY echo-basic /echo-basic
EXPOSE 3000 8443
ENTRYPOINT ["/echo-basic"]'
COREDNS_DOCKERFILE='FROM scratch
COPY coredns /coredns
EXPOSE 53 53/udp
ENTRYPOINT ["/coredns"]'

# tag_all SOURCE NAME...: point every NAME at SOURCE's image.
tag_all() {
  local src=$1 id name
  shift
  id=$(docker image inspect -f '{{.Id}}' "$src")
  for name in "$@"; do
    [ "$(docker image inspect -f '{{.Id}}' "$name" 2>/dev/null)" = "$id" ] || docker tag "$src" "$name"
  done
}

do_conformance() {
  need_packages jq:jq
  need_docker
  CONF_NOTES=()
  conformance_images
  conf_binaries

  # echo-basic under every name the manifests use.
  local hash
  hash=$( { file_sha "$ECHO_BASIC_BIN"; printf '%s\n' "$ECHO_BASIC_DOCKERFILE"; } | sha256sum | cut -c1-16)
  scratch_image "$ECHO_BASIC_IMAGE" "$hash" "$ECHO_BASIC_DOCKERFILE" "$ECHO_BASIC_BIN" && CONF_NOTES+=("built $ECHO_BASIC_IMAGE")
  tag_all "$ECHO_BASIC_IMAGE" "${SUITE_ECHO_BASIC_IMAGES[@]}"

  # CoreDNS: the test bed's own image (setup.sh node-image leaves it in the engine), else one built
  # from the test bed's coredns binary. Its version differs from the manifests' name; the suite only
  # needs a DNS server.
  local coredns=registry.k8s.io/coredns/coredns:$COREDNS_VERSION
  if ! docker image inspect "$coredns" >/dev/null 2>&1; then
    local bin=$BIN_DIR/coredns-$COREDNS_VERSION/coredns
    [ -x "$bin" ] || { echo "traefik.sh: no $coredns image and no $bin (run setup.sh binaries)" >&2; return 1; }
    hash=$( { file_sha "$bin"; printf '%s\n' "$COREDNS_DOCKERFILE"; } | sha256sum | cut -c1-16)
    scratch_image "$COREDNS_FALLBACK_IMAGE" "$hash" "$COREDNS_DOCKERFILE" "$bin" && CONF_NOTES+=("built $COREDNS_FALLBACK_IMAGE")
    coredns=$COREDNS_FALLBACK_IMAGE
  fi
  tag_all "$coredns" "${SUITE_COREDNS_IMAGES[@]}"
  prune_ours

  if save_archive "$CONFORMANCE_ARCHIVE" "${SUITE_ECHO_BASIC_IMAGES[@]}" "${SUITE_COREDNS_IMAGES[@]}"; then
    CONF_NOTES+=("saved $CONFORMANCE_ARCHIVE")
  else
    CONF_NOTES+=("archive cached")
  fi
  RESULT="${CONF_NOTES[*]}"
}

# ---------------------------------------------------------------------------------------------
# smoke test (no cluster)

# wait_http URL: until it answers 2xx or 15 s pass.
wait_http() {
  for _ in $(seq 30); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.5
  done
  echo "traefik.sh: $1 did not answer" >&2
  return 1
}

do_check() {
  need_docker
  need_packages curl:curl
  local names=(kindstack-traefik-check kindstack-echo-basic-check) port=59000 echo_port=59001 out
  docker rm -f "${names[@]}" >/dev/null 2>&1 || true
  # As the pod runs it: user 65532 with no passwd entry, no capabilities, no new privileges, and a
  # read-only root filesystem. The private dockerd has no bridge, so host network on a high port.
  docker run -d --name kindstack-traefik-check --network host --user 65532:65532 --cap-drop ALL \
    --security-opt no-new-privileges --read-only "$TRAEFIK_IMAGE" \
    --entrypoints.traefik.address=127.0.0.1:$port --ping=true \
    --global.checknewversion=false --global.sendanonymoususage=false >/dev/null
  wait_http "http://127.0.0.1:$port/ping" || { docker logs kindstack-traefik-check >&2; docker rm -f "${names[@]}" >/dev/null; return 1; }
  out=$(curl -fsS "http://127.0.0.1:$port/ping")
  [ "$out" = OK ] || { echo "traefik.sh: /ping said $out" >&2; return 1; }
  docker run -d --name kindstack-echo-basic-check --network host --user 65532:65532 --cap-drop ALL --read-only \
    -e HTTP_PORT=$echo_port -e H2C_PORT=$((echo_port + 1)) -e POD_NAME=check -e NAMESPACE=testbed \
    "${SUITE_ECHO_BASIC_IMAGES[0]}" >/dev/null
  wait_http "http://127.0.0.1:$echo_port/x" || { docker logs kindstack-echo-basic-check >&2; docker rm -f "${names[@]}" >/dev/null; return 1; }
  out=$(curl -fsS "http://127.0.0.1:$echo_port/x")
  grep -q '"pod": *"check"' <<<"$out" || { echo "traefik.sh: echo-basic said $out" >&2; return 1; }
  docker rm -f "${names[@]}" >/dev/null
  out=$("$CONFORMANCE_TEST" -test.list .)
  grep -qx TestConformance <<<"$out" || { echo "traefik.sh: $CONFORMANCE_TEST lists no TestConformance" >&2; return 1; }
  out=$("$CONFORMANCE_TEST" -h 2>&1 || true)
  if ! grep -q -- '-gateway-class' <<<"$out" || ! grep -q -- '-kubeconfig' <<<"$out"; then
    echo "traefik.sh: $CONFORMANCE_TEST does not take the suite's flags" >&2
    return 1
  fi
  RESULT="Traefik /ping OK as 65532 (read-only, no passwd); echo-basic answers; $CONFORMANCE_TEST lists TestConformance"
}

do_paths() {
  printf 'TRAEFIK_IMAGE=%s\nTRAEFIK_ARCHIVE=%s\nCONFORMANCE_TEST=%s\nCONFORMANCE_ARCHIVE=%s\nGATEWAY_API_VERSION=%s\n' \
    "$TRAEFIK_IMAGE" "$TRAEFIK_ARCHIVE" "$CONFORMANCE_TEST" "$CONFORMANCE_ARCHIVE" "$GATEWAY_API_VERSION"
}

[ $# -gt 0 ] || set -- all
for cmd in "$@"; do
  case $cmd in
    binary) stage traefik-bin do_binary ;;
    image) stage traefik-img do_image ;;
    conformance) stage conformance do_conformance ;;
    check) stage check do_check ;;
    paths) do_paths ;;
    mod) stage traefik-mod do_mod ;;
    all)
      stage traefik-bin do_binary
      stage traefik-img do_image
      stage conformance do_conformance
      ;;
    *) echo "usage: $0 [binary|image|conformance|check|paths|mod|all] ..." >&2; exit 2 ;;
  esac
done
if [ ${#SUMMARY[@]} -gt 0 ]; then
  log "summary (also in $TESTBED_DIR/timings.log):"
  printf '  %s\n' "${SUMMARY[@]}" >&2
fi
