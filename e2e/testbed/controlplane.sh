#!/usr/bin/env bash
# The integration tier's control plane binaries. e2e/testbed/testenv starts the processes itself;
# this script only says where the binaries are and builds/installs the missing ones.
#   controlplane.sh paths     print K8S_BIN_DIR=... and ETCD=... (ETCD empty when none is found)
#   controlplane.sh prepare   build kube-apiserver, kube-controller-manager, kube-scheduler (cached)
#                             and install Debian's etcd-server when no etcd is found
source "$(dirname "$0")/lib.sh"

k8s_bin_dir=$BIN_DIR/kubernetes-$K8S_VERSION

# find_etcd prints the etcd to use: one built into the cache (build it with go build
# go.etcd.io/etcd/server/v3, see NOTES) wins over the one on PATH (Debian etcd-server 3.4 works).
find_etcd() {
  if [ -x "$BIN_DIR/etcd-$ETCD_VERSION/etcd" ]; then
    echo "$BIN_DIR/etcd-$ETCD_VERSION/etcd"
  else
    command -v etcd || true
  fi
}

case "${1:-}" in
  paths)
    printf 'K8S_BIN_DIR=%s\nETCD=%s\n' "$k8s_bin_dir" "$(find_etcd)"
    ;;
  prepare)
    [ -n "$(find_etcd)" ] || need_packages etcd:etcd-server
    "$(dirname "$0")/build-k8s.sh" kube-apiserver kube-controller-manager kube-scheduler
    log "control plane binaries ready in $k8s_bin_dir, etcd $(find_etcd)"
    ;;
  *)
    echo "usage: $0 paths|prepare" >&2
    exit 2
    ;;
esac
