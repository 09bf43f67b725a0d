#!/usr/bin/env bash
# The tutorial done by hand, as a script, for `make bench-e2e`: the real kind CLI (built from
# sigs.k8s.io/kind $KIND_VERSION) and kubectl (the test bed's), doing what the tutorial says
# (FACTS.md §1): create the cluster with its config (a kubeadm patch labels the node
# ingress-ready=true, host ports mapped to 80/443), apply ingress-nginx and wait for its controller
# as kind's ingress guide does, apply metrics-server, apply the example (its Ingress retried until
# the admission webhook serves, as any script must), `kubectl wait` for the example's pods, then
# poll /api/healthy through the host port until it answers 200. On the air-gapped test bed the
# images come from `kind load docker-image` where a person online would pull them.
#
# Usage: tutorial.sh build                   build the kind CLI into the test bed cache (cached)
#        tutorial.sh paths                   KIND_CLI=... KUBECTL=... (for the bench)
#        tutorial.sh run NAME HTTP HTTPS     prints "first-200 SECONDS" (since the create began)
#        tutorial.sh delete NAME
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
MANIFESTS=$HERE/../testdata/tutorial
KIND_CLI=$BIN_DIR/kind-$KIND_VERSION/kind
KUBECTL=$BIN_DIR/kubernetes-$K8S_VERSION/kubectl
# The images the manifests run (e2e/testdata/tutorial), as the test bed builds them.
IMAGES=(kindstack.test/ingress-nginx-controller:dev kindstack.test/kube-webhook-certgen:dev
  "$METRICS_SERVER_IMAGE" kindstack.test/postgres:dev kindstack.test/example-backend:dev kindstack.test/example-frontend:dev)

do_build() {
  [ -x "$KIND_CLI" ] && return 0
  mkdir -p "$(dirname "$KIND_CLI")"
  log "building the kind CLI $KIND_VERSION"
  (cd / && heavy env CGO_ENABLED=0 GOBIN="$(dirname "$KIND_CLI").tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@$KIND_VERSION")
  mv "$(dirname "$KIND_CLI").tmp/kind" "$KIND_CLI"
  rmdir "$(dirname "$KIND_CLI").tmp"
}

# since START_NS: seconds since then, to the millisecond.
since() { local ms=$((($(date +%s%N) - $1) / 1000000)); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }

do_run() {
  local name=$1 http=$2 https=$3 start kc
  [ -x "$KIND_CLI" ] && [ -x "$KUBECTL" ] || { echo "tutorial.sh: run build (and setup.sh binaries) first" >&2; return 1; }
  docker_env
  kc=$(mktemp -d)/kubeconfig
  export KUBECONFIG=$kc
  start=$(date +%s%N)
  "$KIND_CLI" create cluster --name "$name" --image "$NODE_IMAGE" --config - <<YAML >&2
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
  kubeadmConfigPatches:
  - |
    kind: InitConfiguration
    nodeRegistration:
      kubeletExtraArgs:
        node-labels: "ingress-ready=true"
  extraPortMappings:
  - {containerPort: 80, hostPort: $http, listenAddress: 127.0.0.1, protocol: TCP}
  - {containerPort: 443, hostPort: $https, listenAddress: 127.0.0.1, protocol: TCP}
YAML
  "$KIND_CLI" load docker-image --name "$name" "${IMAGES[@]}" >&2
  "$KUBECTL" apply -f "$MANIFESTS/ingress-nginx.yaml" >&2
  # kind's ingress guide waits for the controller pod; it does not exist until the Deployment's
  # ReplicaSet made it, so a script retries the wait too.
  until "$KUBECTL" wait --namespace ingress-nginx --for=condition=ready pod \
    --selector=app.kubernetes.io/component=controller --timeout=90s >&2 2>/dev/null; do sleep 1; done
  "$KUBECTL" apply -f "$MANIFESTS/metrics-server.yaml" >&2
  until "$KUBECTL" apply -f "$MANIFESTS/example.yaml" >&2; do sleep 1; done
  "$KUBECTL" wait --for=condition=Ready pods --all -n example --timeout=300s >&2
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http/api/healthy")" = 200 ]; do sleep 0.5; done
  echo "first-200 $(since "$start")"
}

do_delete() { docker_env; "$KIND_CLI" delete cluster --name "$1" >&2; }

case ${1:-} in
  build) do_build ;;
  paths) printf 'KIND_CLI=%s\nKUBECTL=%s\n' "$KIND_CLI" "$KUBECTL" ;;
  run) shift; do_run "$@" ;;
  delete) shift; do_delete "$@" ;;
  *) echo "usage: tutorial.sh build | paths | run NAME HTTP HTTPS | delete NAME" >&2; exit 2 ;;
esac
