#!/usr/bin/env bash
# kindstack's air-gapped kind test bed: everything comes from the Go module proxy and Debian apt,
# is cached under $TESTBED_DIR (outside the repository) keyed by version, and every step skips
# work that is already done, so a warm run takes minutes.
#
# Usage: e2e/testbed/setup.sh [subcommand ...]     (default: all)
#   docker         start the PRIVATE dockerd (socket $TESTBED_DIR/docker/docker.sock) unless it answers
#   stop           stop the private dockerd (kind clusters in it stop too)
#   remove         stop it and delete its data directory (refused while kind clusters live in it, unless FORCE=1)
#   rootfs         debootstrap the Debian base rootfs tarball (prints its path)
#   rootfs-path    print the base rootfs tarball path (no work)
#   binaries       build kubelet/kubeadm/kubectl/kube-proxy + control plane, etcd, coredns, pause, crictl shim, metrics-server
#   node-image     the kind node image $NODE_IMAGE in the private dockerd (from its cached archive if present)
#   images         metrics-server image $METRICS_SERVER_IMAGE in the private dockerd (+ cached archive)
#   check          prove it: kind cluster from the node image, hostPort 80 curl, metrics-server + kubectl top, delete
#   all            docker rootfs binaries node-image images
#   env            print `export DOCKER_HOST=...` etc. for eval
# A summary of what each stage did and how long it took is printed at the end and appended to
# $TESTBED_DIR/timings.log.
source "$(dirname "$0")/lib.sh"
export GOTOOLCHAIN=local
HERE=$(cd "$(dirname "$0")" && pwd)

# ---------------------------------------------------------------------------------------------
# private Docker engine

# The engine runs the wrapper from the cache, not from this checkout: an engine left running must
# not depend on a clone that CI (or the user) has since removed.
RUNTIME_WRAPPER=$DOCKER_DIR/runc-nosysresource

dockerd_answers() { DOCKER_HOST=unix://$DOCKER_SOCK docker version >/dev/null 2>&1; }

# engine_wrapper prints the path the running engine has for the kindstack-runc runtime.
engine_wrapper() {
  DOCKER_HOST=unix://$DOCKER_SOCK docker info --format '{{with index .Runtimes "kindstack-runc"}}{{.Path}}{{end}}' 2>/dev/null || true
}

do_docker() {
  need_packages dockerd:docker.io jq:jq
  mkdir -p "$DOCKER_DIR"
  cmp -s "$HERE/runc-nosysresource" "$RUNTIME_WRAPPER" || install -m 0755 "$HERE/runc-nosysresource" "$RUNTIME_WRAPPER"
  if dockerd_answers; then
    local path
    path=$(engine_wrapper)
    if [ "$path" = "$RUNTIME_WRAPPER" ]; then
      RESULT="already running (pid $(cat "$DOCKER_DIR/dockerd.pid" 2>/dev/null || echo ?))"
      return 0
    fi
    log "restarting the private dockerd: its runtime wrapper is ${path:-missing}, want $RUNTIME_WRAPPER"
    do_stop
    if dockerd_answers; then
      echo "testbed: cannot stop the private dockerd on $DOCKER_SOCK (no live pid in $DOCKER_DIR/dockerd.pid)" >&2
      return 1
    fi
  fi
  mkdir -p "$DOCKER_DIR/data" "$DOCKER_DIR/exec"
  rm -f "$DOCKER_SOCK"
  # --bridge none/--iptables=false: the private engine leaves the host's default bridge and
  # iptables alone; kind creates its own "kind" network, and published ports go through
  # docker-proxy (userland proxy) on 127.0.0.1.
  # The runtime wrapper strips CAP_SYS_RESOURCE, which this VM's bounding set lacks
  # (otherwise `docker run --privileged` fails with "unable to apply caps").
  # Without XDG_RUNTIME_DIR: runc keeps its exec state there when it is set, and a directory
  # that does not exist makes every `docker exec` fail ("OCI runtime exec failed").
  # Descriptors 3-9 are closed for it: a caller's lock (`flock FILE setup.sh docker` holds FILE on
  # fd 3) would otherwise live as long as the daemon, and every later `flock FILE` wait forever.
  env -u XDG_RUNTIME_DIR nohup dockerd \
    --host "unix://$DOCKER_SOCK" \
    --data-root "$DOCKER_DIR/data" --exec-root "$DOCKER_DIR/exec" --pidfile "$DOCKER_DIR/dockerd.pid" \
    --bridge none --iptables=false --ip-masq=false --userland-proxy=true \
    --default-address-pool "base=$DOCKER_ADDRESS_POOL,size=24" \
    --add-runtime "kindstack-runc=$RUNTIME_WRAPPER" --default-runtime kindstack-runc \
    </dev/null >"$DOCKER_DIR/dockerd.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  local i
  for i in $(seq 120); do
    dockerd_answers && break
    sleep 0.5
  done
  dockerd_answers || { tail -20 "$DOCKER_DIR/dockerd.log" >&2; echo "testbed: private dockerd did not start" >&2; return 1; }
  RESULT="started pid $(cat "$DOCKER_DIR/dockerd.pid"), DOCKER_HOST=unix://$DOCKER_SOCK"
}

do_stop() {
  local pid
  pid=$(cat "$DOCKER_DIR/dockerd.pid" 2>/dev/null || true)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    RESULT="not running"
    return 0
  fi
  kill "$pid"
  local i
  for i in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  RESULT="stopped pid $pid"
}

# do_remove stops the private dockerd and deletes its data directory (images, containers, volumes
# of that engine only; the cache of builds and image archives stays, so the next start reloads the
# images in seconds). It refuses while kind clusters live in it, unless FORCE=1.
do_remove() {
  if dockerd_answers; then
    local clusters
    clusters=$(DOCKER_HOST=unix://$DOCKER_SOCK docker ps -a --filter label=io.x-k8s.kind.cluster \
      --format '{{.Label "io.x-k8s.kind.cluster"}}' | sort -u | paste -sd, - | sed 's/,/, /g')
    if [ -n "$clusters" ] && [ "${FORCE:-}" != 1 ]; then
      echo "testbed: the private engine still runs kind clusters ($clusters); delete each first (DOCKER_HOST=unix://$DOCKER_SOCK kindstack down --name NAME), or pass FORCE=1" >&2
      return 1
    fi
  fi
  do_stop
  if dockerd_answers; then
    echo "testbed: cannot stop the private dockerd on $DOCKER_SOCK (no live pid in $DOCKER_DIR/dockerd.pid)" >&2
    return 1
  fi
  # A mount left under the data root (a container the engine did not clean up) would make rm
  # reach into it: unmount first, deepest first.
  awk -v d="$DOCKER_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
  rm -rf "$DOCKER_DIR"
  RESULT="stopped and removed $DOCKER_DIR"
}

# ---------------------------------------------------------------------------------------------
# debootstrapped base rootfs

do_rootfs() {
  if [ -f "$BASE_ROOTFS_TARBALL" ]; then
    RESULT="cached $BASE_ROOTFS_TARBALL"
    return 0
  fi
  need_packages debootstrap:debootstrap zstd:zstd
  local dir=$TESTBED_DIR/rootfs/build
  rm -rf "$dir"
  mkdir -p "$dir"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" "$DEBIAN_SUITE" "$dir" "$(debian_mirror)" \
    >"$TESTBED_DIR/rootfs/debootstrap.log" 2>&1 || { tail -20 "$TESTBED_DIR/rootfs/debootstrap.log" >&2; return 1; }
  chroot "$dir" apt-get clean
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/archives/*.deb
  tar -C "$dir" --numeric-owner -cf - . | zstd -q -T0 -3 -o "$BASE_ROOTFS_TARBALL.tmp"
  mv "$BASE_ROOTFS_TARBALL.tmp" "$BASE_ROOTFS_TARBALL"
  rm -rf "$dir"
  RESULT="debootstrapped $BASE_ROOTFS_TARBALL ($(du -h "$BASE_ROOTFS_TARBALL" | cut -f1))"
}

# ---------------------------------------------------------------------------------------------
# binaries, each from its Go module (or C source) into $BIN_DIR/<name>-<version>/

# go_build_wrapped NAME VERSION PKG: a wrapper module requiring the module of PKG at VERSION,
# then `go build PKG` under the heavy lock.
go_build_wrapped() {
  local name=$1 version=$2 pkg=$3
  local out=$BIN_DIR/$name-$version/$name src=$TESTBED_DIR/src/$name-$version
  if [ -x "$out" ]; then
    BUILT+=("$name cached")
    return 0
  fi
  mkdir -p "$src" "$(dirname "$out")"
  (
    cd "$src"
    if [ ! -f go.sum ]; then
      rm -f go.mod go.sum
      # `go get PKG@VERSION` records every module (and go.sum line) the command's packages need;
      # a later `go mod tidy` would prune them again, so there is none.
      { go mod init "kindstack.test/$name" && go get "$pkg@$version"; } >prepare.log 2>&1 ||
        { tail -20 prepare.log >&2; rm -f go.sum; return 1; }
    fi
    local start=$(date +%s)
    heavy env CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${LDFLAGS:-}" -o "$out.tmp" "$pkg"
    mv "$out.tmp" "$out"
    log "built $name $version in $(($(date +%s) - start))s"
  )
  BUILT+=("$name built")
}

do_binaries() {
  BUILT=()
  need_packages jq:jq gcc:gcc
  bash "$HERE/build-k8s.sh" kube-apiserver kube-controller-manager kube-scheduler kubelet kubeadm kubectl kube-proxy
  go_build_wrapped etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3
  go_build_wrapped coredns "$COREDNS_VERSION" github.com/coredns/coredns
  LDFLAGS="-X sigs.k8s.io/metrics-server/pkg/version.gitVersion=$METRICS_SERVER_VERSION" \
    go_build_wrapped metrics-server "$METRICS_SERVER_VERSION" sigs.k8s.io/metrics-server/cmd/metrics-server

  # pause: the C source shipped in the k8s.io/kubernetes module zip.
  local pause=$BIN_DIR/pause-$PAUSE_VERSION/pause
  if [ ! -x "$pause" ]; then
    local kdir
    kdir=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | jq -r .Dir)
    mkdir -p "$(dirname "$pause")"
    gcc -Os -static -DVERSION="v$PAUSE_VERSION-kindstack" -o "$pause" "$kdir/build/pause/linux/pause.c"
    strip "$pause"
    BUILT+=("pause built")
  else
    BUILT+=("pause cached")
  fi

  # crictl shim from our nested tools module (keyed by a hash of its sources).
  local toolsum crictl
  toolsum=$(cat "$HERE"/tools/go.mod "$HERE"/tools/go.sum "$HERE"/tools/crictl/*.go | sha256sum | cut -c1-12)
  crictl=$BIN_DIR/tools-$toolsum/crictl
  if [ ! -x "$crictl" ]; then
    mkdir -p "$(dirname "$crictl")"
    (cd "$HERE/tools" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$crictl" ./crictl)
    BUILT+=("crictl built")
  else
    BUILT+=("crictl cached")
  fi
  CRICTL=$crictl
  RESULT="${BUILT[*]}"
}

crictl_path() {
  local toolsum
  toolsum=$(cat "$HERE"/tools/go.mod "$HERE"/tools/go.sum "$HERE"/tools/crictl/*.go | sha256sum | cut -c1-12)
  echo "$BIN_DIR/tools-$toolsum/crictl"
}

# ---------------------------------------------------------------------------------------------
# node image

KIND_BASE_FILES() { echo "$(go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | jq -r .Dir)/images/base/files"; }
NODE_ARCHIVE=$TESTBED_DIR/images/kind-node-$K8S_VERSION-kind$KIND_VERSION-r$NODE_IMAGE_REV.tar.zst

# The images kubeadm 1.33 pulls; names must match `kubeadm config images list`.
component_images() {
  local v=$K8S_VERSION
  echo "registry.k8s.io/kube-apiserver:$v registry.k8s.io/kube-controller-manager:$v registry.k8s.io/kube-scheduler:$v" \
    "registry.k8s.io/kube-proxy:$v registry.k8s.io/etcd:${ETCD_VERSION#v}-0 registry.k8s.io/coredns/coredns:$COREDNS_VERSION" \
    "registry.k8s.io/pause:$PAUSE_VERSION"
}

# build_scratch_image TAG CONTEXT DOCKERFILE-TEXT
build_scratch_image() {
  printf '%s\n' "$3" >"$2/Dockerfile"
  local out
  out=$(DOCKER_BUILDKIT=0 docker build -q -t "$1" "$2" 2>&1) || { echo "$out" >&2; return 1; }
}

# kube-proxy needs iptables/nft/conntrack: a slim rootfs with those binaries and their libraries,
# taken from the debootstrapped rootfs.
kube_proxy_rootfs() { # SRC DST
  local src=$1 dst=$2 b l
  mkdir -p "$dst"/usr/{bin,sbin,lib,lib64} "$dst"/usr/local/bin "$dst"/{etc,run,tmp,var/lib/kube-proxy,lib/modules} 2>/dev/null || true
  for b in bin sbin lib lib64; do [ -e "$dst/$b" ] || ln -s "usr/$b" "$dst/$b"; done
  for b in /usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi /usr/sbin/conntrack /usr/sbin/nft /bin/sh /bin/dash /usr/bin/env \
    $(cd "$src" && ls usr/lib/x86_64-linux-gnu/xtables/*.so | sed 's|^|/|'); do
    [ -e "$src$b" ] || continue
    mkdir -p "$dst$(dirname "$b")"
    cp -a "$src$b" "$dst$b"
    for l in $(chroot "$src" ldd "$b" 2>/dev/null | grep -o '/[^ ]*'); do
      mkdir -p "$dst$(dirname "$l")"
      cp -aL "$src$l" "$dst$l"
    done
  done
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf xtables-nft-multi "$dst/usr/sbin/$t"
    ln -sf xtables-nft-multi "$dst/usr/sbin/${t/tables/tables-nft}"
    ln -sf xtables-legacy-multi "$dst/usr/sbin/${t/tables/tables-legacy}"
  done
  cp -a "$src"/etc/{protocols,services,ethertypes,nsswitch.conf} "$dst/etc/" 2>/dev/null || true
}

# build_kube_proxy_image ROOTFS DIR: registry.k8s.io/kube-proxy from the built binary and the tools
# it needs from the base rootfs ROOTFS, built in DIR, then saved to $KUBE_PROXY_ARCHIVE.
build_kube_proxy_image() {
  local R=$1 dir=$2
  kube_proxy_rootfs "$R" "$dir/rootfs"
  cp "$BIN_DIR/kubernetes-$K8S_VERSION/kube-proxy" "$dir/rootfs/usr/local/bin/"
  build_scratch_image "$KUBE_PROXY_IMAGE" "$dir" 'FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENTRYPOINT ["/usr/local/bin/kube-proxy"]'
  mkdir -p "$(dirname "$KUBE_PROXY_ARCHIVE")"
  docker save -o "$KUBE_PROXY_ARCHIVE.tmp" "$KUBE_PROXY_IMAGE" && mv "$KUBE_PROXY_ARCHIVE.tmp" "$KUBE_PROXY_ARCHIVE"
}

# kube_proxy_image: the kube-proxy image in the engine, as the node image holds it. The
# multi-node build (flannel.sh) starts from it. The node image comes from its archive when the engine has
# lost its data (engine-remove, a new engine on the same cache), and this image goes with it: from
# its own archive, or built again from the cached binary and rootfs.
kube_proxy_image() {
  if docker image inspect "$KUBE_PROXY_IMAGE" >/dev/null 2>&1 && [ -f "$KUBE_PROXY_ARCHIVE" ]; then
    echo "kube-proxy image present"
    return 0
  fi
  if [ -f "$KUBE_PROXY_ARCHIVE" ]; then
    docker load -q -i "$KUBE_PROXY_ARCHIVE" >/dev/null
    echo "kube-proxy image loaded from $KUBE_PROXY_ARCHIVE"
    return 0
  fi
  [ -f "$BASE_ROOTFS_TARBALL" ] && [ -x "$BIN_DIR/kubernetes-$K8S_VERSION/kube-proxy" ] ||
    { echo "testbed: no kube-proxy image to rebuild (run setup.sh rootfs binaries)" >&2; return 1; }
  local work=$TESTBED_DIR/work/kube-proxy-image
  rm -rf "$work" && mkdir -p "$work/rootfs"
  zstd -dc "$BASE_ROOTFS_TARBALL" | tar -C "$work/rootfs" --numeric-owner -xf -
  build_kube_proxy_image "$work/rootfs" "$work/img"
  rm -rf "$work"
  echo "kube-proxy image built again, cached $KUBE_PROXY_ARCHIVE"
}

do_node_image() {
  need_packages zstd:zstd jq:jq
  docker_env
  local kp
  if docker image inspect "$NODE_IMAGE" >/dev/null 2>&1 && [ -f "$NODE_ARCHIVE" ]; then
    kp=$(kube_proxy_image) || return 1
    RESULT="present in private dockerd: $NODE_IMAGE; $kp"
    return 0
  fi
  if [ -f "$NODE_ARCHIVE" ]; then
    zstd -dc "$NODE_ARCHIVE" | docker load -q >/dev/null
    kp=$(kube_proxy_image) || return 1
    RESULT="loaded $NODE_IMAGE from $NODE_ARCHIVE; $kp"
    return 0
  fi
  [ -f "$BASE_ROOTFS_TARBALL" ] || { echo "testbed: run setup.sh rootfs first" >&2; return 1; }
  local kb=$BIN_DIR/kubernetes-$K8S_VERSION work=$TESTBED_DIR/work/node-image
  local crictl
  crictl=$(crictl_path)
  for f in "$kb"/{kube-apiserver,kube-controller-manager,kube-scheduler,kube-proxy,kubelet,kubeadm,kubectl} \
    "$BIN_DIR/etcd-$ETCD_VERSION/etcd" "$BIN_DIR/coredns-$COREDNS_VERSION/coredns" "$BIN_DIR/pause-$PAUSE_VERSION/pause" "$crictl"; do
    [ -x "$f" ] || { echo "testbed: missing $f (run setup.sh binaries)" >&2; return 1; }
  done
  rm -rf "$work"
  mkdir -p "$work"/{rootfs,img,ctrd}
  local R=$work/rootfs
  zstd -dc "$BASE_ROOTFS_TARBALL" | tar -C "$R" --numeric-owner -xf -

  # 1. component images (FROM scratch + static binary; kube-proxy with iptables from the rootfs)
  local v=$K8S_VERSION c
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    mkdir -p "$work/img/$c" && cp "$kb/$c" "$work/img/$c/"
    build_scratch_image "registry.k8s.io/$c:$v" "$work/img/$c" "FROM scratch
COPY $c /usr/local/bin/$c
ENV PATH=/usr/local/bin:/usr/bin:/bin
ENTRYPOINT [\"/usr/local/bin/$c\"]"
  done
  mkdir -p "$work/img/etcd" && cp "$BIN_DIR/etcd-$ETCD_VERSION/etcd" "$work/img/etcd/"
  build_scratch_image "registry.k8s.io/etcd:${ETCD_VERSION#v}-0" "$work/img/etcd" 'FROM scratch
COPY etcd /usr/local/bin/etcd
ENV PATH=/usr/local/bin:/usr/bin:/bin
ENTRYPOINT ["/usr/local/bin/etcd"]'
  mkdir -p "$work/img/coredns" && cp "$BIN_DIR/coredns-$COREDNS_VERSION/coredns" "$work/img/coredns/"
  build_scratch_image "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" "$work/img/coredns" 'FROM scratch
COPY coredns /coredns
EXPOSE 53 53/udp
ENTRYPOINT ["/coredns"]'
  mkdir -p "$work/img/pause" && cp "$BIN_DIR/pause-$PAUSE_VERSION/pause" "$work/img/pause/"
  build_scratch_image "registry.k8s.io/pause:$PAUSE_VERSION" "$work/img/pause" 'FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]'
  build_kube_proxy_image "$R" "$work/img/kube-proxy"
  # shellcheck disable=SC2046
  docker save -o "$work/components.tar" $(component_images)

  # 2. kind base files (from the kind module) + node customisation
  local KF
  KF=$(KIND_BASE_FILES)
  mkdir -p "$R"/kind/bin "$R"/kind/manifests "$R"/etc/containerd "$R"/etc/default "$R"/etc/sysctl.d \
    "$R"/etc/systemd/system/kubelet.service.d "$R"/etc/cni/net.d "$R"/opt/cni/bin "$R"/LICENSES "$R"/etc/kubernetes/manifests
  install -m0755 "$KF"/usr/local/bin/* "$R/usr/local/bin/"
  install -m0644 "$KF/kind/README.txt" "$R/kind/"
  install -m0644 "$KF/LICENSES/README.txt" "$R/LICENSES/"
  install -m0755 "$KF"/kind/bin/* "$R/kind/bin/"
  install -m0644 "$KF/etc/crictl.yaml" "$R/etc/"
  install -m0644 "$KF/etc/containerd/config.toml" "$R/etc/containerd/"
  install -m0644 "$KF/etc/default/kubelet" "$R/etc/default/"
  install -m0644 "$KF"/etc/sysctl.d/* "$R/etc/sysctl.d/"
  for f in "$KF"/etc/systemd/system/*; do [ -f "$f" ] && install -m0644 "$f" "$R/etc/systemd/system/"; done
  rm -f "$R/etc/systemd/system/containerd-fuse-overlayfs.service"
  install -m0644 "$KF"/etc/systemd/system/kubelet.service.d/* "$R/etc/systemd/system/kubelet.service.d/"
  # Debian ships containerd in /usr/bin and CNI plugins in /usr/lib/cni; kind expects /usr/local/bin and /opt/cni/bin.
  ln -sf /usr/bin/containerd "$R/usr/local/bin/containerd"
  cp -a "$R"/usr/lib/cni/* "$R/opt/cni/bin/"
  # Host quirk 2: without CAP_SYS_RESOURCE runc cannot lower oom_score_adj ("can't get final
  # child's PID from pipe"); containerd must clamp it instead.
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' "$R/etc/containerd/config.toml"
  grep -q 'restrict_oom_score_adj = true' "$R/etc/containerd/config.toml"
  grep -q "sandbox_image = \"registry.k8s.io/pause:$PAUSE_VERSION\"" "$R/etc/containerd/config.toml" ||
    { echo "testbed: kind $KIND_VERSION containerd config does not use pause:$PAUSE_VERSION" >&2; return 1; }
  chroot "$R" ctr oci spec | jq '.hooks.createContainer += [{"path": "/kind/bin/mount-product-files.sh"}] | del(.process.rlimits)' \
    >"$R/etc/containerd/cri-base.json"
  chroot "$R" /bin/bash -euc '
    find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
    rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* /lib/systemd/system/local-fs.target.wants/* \
      /lib/systemd/system/sockets.target.wants/*udev* /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
    echo ReadKMsg=no >> /etc/systemd/journald.conf
    ln -sf /lib/systemd/systemd /sbin/init
    systemctl enable kubelet.service containerd.service undo-mount-hacks.service >/dev/null 2>&1
    systemctl mask systemd-binfmt.service >/dev/null 2>&1
  '
  : >"$R/etc/machine-id"
  install -m0755 "$kb/kubelet" "$kb/kubeadm" "$kb/kubectl" "$R/usr/bin/"
  install -m0755 "$crictl" "$R/usr/local/bin/crictl"
  printf '%s' "$K8S_VERSION" >"$R/kind/version"
  # Single-node CNI: kindnetd cannot be built here, so a static bridge + portmap (hostPort) config.
  cat >"$R/etc/cni/net.d/10-kindstack-bridge.conflist" <<'JSON'
{
  "cniVersion": "1.0.0",
  "name": "kindstack-bridge",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  # kind applies these after kubeadm init. The CNI is baked in above, so the CNI manifest is inert.
  cat >"$R/kind/manifests/default-cni.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: kindstack-testbed-cni
  namespace: kube-system
data:
  note: static bridge+portmap CNI in /etc/cni/net.d of the node image (single node)
YAML
  cat >"$R/kind/manifests/default-storage.yaml" <<'YAML'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
YAML

  # 3. pre-import the component images with the rootfs' own containerd, run on the host
  local S=$work/ctrd
  cat >"$S/config.toml" <<TOML
version = 2
root = "$R/var/lib/containerd"
state = "$S/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$S/containerd.sock"
TOML
  "$R/usr/bin/containerd" --config "$S/config.toml" >"$S/containerd.log" 2>&1 &
  local cpid=$! i
  for i in $(seq 100); do [ -S "$S/containerd.sock" ] && break; sleep 0.2; done
  "$R/usr/bin/ctr" -a "$S/containerd.sock" -n k8s.io images import --all-platforms --snapshotter overlayfs "$work/components.tar" >/dev/null
  local n
  n=$("$R/usr/bin/ctr" -a "$S/containerd.sock" -n k8s.io images ls -q | grep -c '^registry.k8s.io/')
  # Drop the layer blobs once unpacked (like CRI's discard_unpacked_layers): ~450 MB smaller.
  "$R/usr/bin/ctr" -a "$S/containerd.sock" -n k8s.io content ls | awk 'NR > 1 && /containerd.io\/uncompressed=/ {print $1}' |
    xargs -r "$R/usr/bin/ctr" -a "$S/containerd.sock" -n k8s.io content rm >/dev/null
  kill "$cpid"
  wait "$cpid" 2>/dev/null || true
  rm -rf "$R/var/lib/containerd/tmpmounts"
  [ "$n" -ge 7 ] || { echo "testbed: only $n images pre-imported" >&2; return 1; }

  # 4. docker import + image metadata, then cache the result
  tar -C "$R" --numeric-owner -cf - . | docker import - "$NODE_IMAGE-import" >/dev/null
  mkdir -p "$work/final"
  printf 'FROM %s\nENV container=docker\nSTOPSIGNAL SIGRTMIN+3\nENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]\n' \
    "$NODE_IMAGE-import" >"$work/final/Dockerfile"
  build_scratch_image "$NODE_IMAGE" "$work/final" "$(cat "$work/final/Dockerfile")"
  docker rmi "$NODE_IMAGE-import" >/dev/null 2>&1 || true
  mkdir -p "$(dirname "$NODE_ARCHIVE")"
  docker save "$NODE_IMAGE" | zstd -q -T0 -3 -o "$NODE_ARCHIVE.tmp"
  mv "$NODE_ARCHIVE.tmp" "$NODE_ARCHIVE"
  rm -rf "$work"
  RESULT="assembled $NODE_IMAGE ($n images pre-imported), cached $NODE_ARCHIVE ($(du -h "$NODE_ARCHIVE" | cut -f1))"
}

# ---------------------------------------------------------------------------------------------
# metrics-server image

MS_ARCHIVE=$TESTBED_DIR/images/metrics-server-$METRICS_SERVER_VERSION.tar.zst

do_images() {
  docker_env
  local bin=$BIN_DIR/metrics-server-$METRICS_SERVER_VERSION/metrics-server
  if ! docker image inspect "$METRICS_SERVER_IMAGE" >/dev/null 2>&1; then
    if [ -f "$MS_ARCHIVE" ]; then
      zstd -dc "$MS_ARCHIVE" | docker load -q >/dev/null
      RESULT="loaded $METRICS_SERVER_IMAGE from archive"
    else
      [ -x "$bin" ] || { echo "testbed: missing $bin (run setup.sh binaries)" >&2; return 1; }
      local ctx=$TESTBED_DIR/work/metrics-server
      rm -rf "$ctx" && mkdir -p "$ctx" && cp "$bin" "$ctx/"
      # Runs as non-root like upstream (the upstream manifest sets runAsNonRoot).
      build_scratch_image "$METRICS_SERVER_IMAGE" "$ctx" 'FROM scratch
COPY metrics-server /metrics-server
USER 65534:65534
ENTRYPOINT ["/metrics-server"]'
      rm -rf "$ctx"
      RESULT="built $METRICS_SERVER_IMAGE"
    fi
  else
    RESULT="present: $METRICS_SERVER_IMAGE"
  fi
  if [ ! -f "$MS_ARCHIVE" ]; then
    mkdir -p "$(dirname "$MS_ARCHIVE")"
    docker save "$METRICS_SERVER_IMAGE" | zstd -q -T0 -3 -o "$MS_ARCHIVE.tmp" && mv "$MS_ARCHIVE.tmp" "$MS_ARCHIVE"
  fi
  # Plain docker-archive for `kind load image-archive` / nodeutils.LoadImageArchive.
  local tar=$TESTBED_DIR/images/metrics-server-$METRICS_SERVER_VERSION.tar
  [ -f "$tar" ] || docker save -o "$tar" "$METRICS_SERVER_IMAGE"
  RESULT+=", archive $tar"
}

# ---------------------------------------------------------------------------------------------
# proof: a cluster from our node image with kind's library

do_check() {
  docker_env
  local kc=$BIN_DIR/kindcheck-$(cat "$HERE"/tools/go.mod "$HERE"/tools/go.sum "$HERE"/tools/kindcheck/*.go | sha256sum | cut -c1-12)/kindcheck
  if [ ! -x "$kc" ]; then
    mkdir -p "$(dirname "$kc")"
    (cd "$HERE/tools" && heavy env CGO_ENABLED=0 go build -trimpath -o "$kc" ./kindcheck)
  fi
  "$kc" -image "$NODE_IMAGE" -kubectl "$BIN_DIR/kubernetes-$K8S_VERSION/kubectl" \
    -metrics-server-archive "$TESTBED_DIR/images/metrics-server-$METRICS_SERVER_VERSION.tar" \
    -metrics-server-image "$METRICS_SERVER_IMAGE" -metrics-server-binary "$BIN_DIR/metrics-server-$METRICS_SERVER_VERSION/metrics-server" \
    -workdir "$TESTBED_DIR/work/kindcheck" ${KINDCHECK_ARGS:-}
  RESULT="kind cluster from $NODE_IMAGE: ready, hostPort 80 curl, kubectl top OK, deleted"
}

do_env() {
  printf 'export DOCKER_HOST=unix://%s\n' "$DOCKER_SOCK"
  printf 'export KINDSTACK_TESTBED_DIR=%s\n' "$TESTBED_DIR"
  printf 'export KINDSTACK_NODE_IMAGE=%s\n' "$NODE_IMAGE"
  printf 'export KINDSTACK_METRICS_SERVER_IMAGE=%s\n' "$METRICS_SERVER_IMAGE"
  printf 'export KINDSTACK_BASE_ROOTFS=%s\n' "$BASE_ROOTFS_TARBALL"
  printf 'export PATH=%s:$PATH\n' "$BIN_DIR/kubernetes-$K8S_VERSION"
}

[ $# -gt 0 ] || set -- all
for cmd in "$@"; do
  case $cmd in
    docker) stage docker do_docker ;;
    stop) stage stop do_stop ;;
    remove) stage remove do_remove ;;
    rootfs) stage rootfs do_rootfs; base_rootfs_tarball ;;
    rootfs-path) base_rootfs_tarball ;;
    binaries) stage binaries do_binaries ;;
    node-image) stage node-image do_node_image ;;
    images) stage images do_images ;;
    check) stage check do_check ;;
    env) do_env ;;
    all)
      stage docker do_docker
      stage rootfs do_rootfs
      stage binaries do_binaries
      stage node-image do_node_image
      stage images do_images
      ;;
    *) echo "usage: $0 [docker|stop|remove|rootfs|rootfs-path|binaries|node-image|images|check|all|env] ..." >&2; exit 2 ;;
  esac
done
if [ ${#SUMMARY[@]} -gt 0 ]; then
  log "summary (also in $TESTBED_DIR/timings.log):"
  printf '  %s\n' "${SUMMARY[@]}" >&2
fi
