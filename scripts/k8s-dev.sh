#!/usr/bin/env bash
# Runs Tributary on a local Kubernetes cluster: builds the images, loads them into the cluster,
# installs the chart and runs `helm test` (which publishes and plays back through the edge Service).
#
#   scripts/k8s-dev.sh kind|k3d|minikube [extra helm install arguments...]
#   scripts/k8s-dev.sh k3d --set otel.endpoint=http://jaeger-collector.tributary:4317
#
# It creates the cluster when it does not exist (with RTMP published on the host's port
# $RTMP_HOST_PORT for kind and k3d), and upgrades the release when it exists. docs/kubernetes.md
# describes each step, for doing them by hand.
#
# Settings (environment):
#   CLUSTER        cluster (kind, k3d) or profile (minikube) name; default tributary
#   NAMESPACE      namespace of the release; default tributary
#   RELEASE        Helm release name; default tributary
#   RTMP_HOST_PORT host port for RTMP on a cluster this script creates (kind, k3d); default 1935
#   ENGINE         docker or podman (what builds the images); default: docker when it works
#   MINIKUBE_START_FLAGS  flags of `minikube start` for a new profile; default --cpus=4 --memory=6g
#   SKIP_BUILD     1 uses the images already built (make images) instead of building them
#   TAG, REGISTRY, VERSION  as for make images
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
	echo "usage: $0 kind|k3d|minikube [helm install arguments...]" >&2
	exit 2
}
[[ $# -ge 1 ]] || usage
TOOL="$1"
shift
case "$TOOL" in
kind | k3d | minikube) ;;
*) usage ;;
esac

CLUSTER="${CLUSTER:-tributary}"
NAMESPACE="${NAMESPACE:-tributary}"
RELEASE="${RELEASE:-tributary}"
RTMP_HOST_PORT="${RTMP_HOST_PORT:-1935}"
SKIP_BUILD="${SKIP_BUILD:-}"
# The edge Service's node port on kind and minikube (the chart's edge.service.nodePorts.rtmp).
NODE_PORT=31935

log() { printf '\n==> %s\n' "$*" >&2; }
die() {
	printf 'k8s-dev: %s\n' "$*" >&2
	exit 1
}
need() {
	command -v "$1" >/dev/null || die "$1 is not installed${2:+ ($2)}"
}

need "$TOOL"
need kubectl "https://kubernetes.io/docs/tasks/tools/"
need helm "https://helm.sh/docs/intro/install/"

ENGINE="${ENGINE:-}"
if [[ -z "$ENGINE" ]]; then
	if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
		ENGINE=docker
	elif command -v podman >/dev/null && podman info >/dev/null 2>&1; then
		ENGINE=podman
	else
		die "neither docker nor podman works here"
	fi
fi
case "$ENGINE" in
docker) ;;
podman)
	# podman names local images localhost/<name>; the cluster must ask for the same name.
	REGISTRY="${REGISTRY:-localhost}"
	;;
*) die "ENGINE must be docker or podman" ;;
esac
export ENGINE REGISTRY="${REGISTRY:-}" TAG="${TAG:-}" VERSION="${VERSION:-}"

# 1. The cluster.
case "$TOOL" in
kind)
	if [[ "$ENGINE" == podman ]]; then
		export KIND_EXPERIMENTAL_PROVIDER=podman
	fi
	if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
		log "creating kind cluster $CLUSTER (RTMP on host port $RTMP_HOST_PORT)"
		kind create cluster --name "$CLUSTER" --wait 120s --config=- <<EOF
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
    extraPortMappings:
      - containerPort: $NODE_PORT
        hostPort: $RTMP_HOST_PORT
        protocol: TCP
EOF
	fi
	CONTEXT="kind-$CLUSTER"
	;;
k3d)
	if ! k3d cluster get "$CLUSTER" >/dev/null 2>&1; then
		log "creating k3d cluster $CLUSTER (RTMP on host port $RTMP_HOST_PORT)"
		k3d cluster create "$CLUSTER" --wait -p "$RTMP_HOST_PORT:1935@loadbalancer"
	fi
	CONTEXT="k3d-$CLUSTER"
	;;
minikube)
	if ! minikube status -p "$CLUSTER" >/dev/null 2>&1; then
		log "starting minikube profile $CLUSTER"
		# shellcheck disable=SC2086 # word splitting wanted: several flags
		minikube start -p "$CLUSTER" ${MINIKUBE_START_FLAGS:---cpus=4 --memory=6g}
	fi
	CONTEXT="$CLUSTER"
	;;
esac
KUBECTL=(kubectl --context "$CONTEXT")
HELM=(helm --kube-context "$CONTEXT")

# 2. The images.
log "building the images ($ENGINE)"
if [[ -n "$SKIP_BUILD" ]]; then
	IMAGES="$(DRY_RUN=1 scripts/images.sh 2>/dev/null)"
else
	IMAGES="$(scripts/images.sh)"
fi
mapfile -t images <<<"$IMAGES"
TAG="${images[0]##*:}"

log "loading ${images[*]} into $TOOL cluster $CLUSTER"
if [[ "$ENGINE" == docker ]]; then
	case "$TOOL" in
	kind) kind load docker-image --name "$CLUSTER" "${images[@]}" ;;
	k3d) k3d image import -c "$CLUSTER" "${images[@]}" ;;
	minikube) minikube -p "$CLUSTER" image load "${images[@]}" ;;
	esac
else
	archive="$(mktemp -d)"
	trap 'rm -rf "$archive"' EXIT
	for i in "${!images[@]}"; do
		tar="$archive/$i.tar"
		podman save -o "$tar" "${images[$i]}"
		case "$TOOL" in
		kind) kind load image-archive --name "$CLUSTER" "$tar" ;;
		k3d) k3d image import -c "$CLUSTER" "$tar" ;;
		minikube) minikube -p "$CLUSTER" image load "$tar" ;;
		esac
	done
fi

# 3. The chart. k3d's built-in service load balancer gives LoadBalancer Services an address; kind
# and minikube have none, so the edge Service is a NodePort there.
service=()
case "$TOOL" in
kind | minikube)
	service=(--set edge.service.type=NodePort --set "edge.service.nodePorts.rtmp=$NODE_PORT")
	;;
esac
upgrade=""
if "${HELM[@]}" status "$RELEASE" -n "$NAMESPACE" >/dev/null 2>&1; then
	upgrade=1
fi
log "installing the chart as release $RELEASE in namespace $NAMESPACE"
"${HELM[@]}" upgrade --install "$RELEASE" charts/tributary -n "$NAMESPACE" --create-namespace \
	--set-string "image.registry=$REGISTRY" --set-string "image.tag=$TAG" --set image.pullPolicy=IfNotPresent \
	"${service[@]}" --wait --timeout 10m "$@"
if [[ -n "$upgrade" ]]; then
	# Images rebuilt under the same tag reach running pods only when they restart.
	log "restarting the edges and controllers on the new images"
	"${KUBECTL[@]}" rollout restart deployment -n "$NAMESPACE" -l "app.kubernetes.io/instance=$RELEASE"
	"${KUBECTL[@]}" rollout status deployment -n "$NAMESPACE" -l "app.kubernetes.io/instance=$RELEASE" --timeout 10m
fi

# 4. helm test: publish and play back through the edge Service.
log "helm test"
"${HELM[@]}" test "$RELEASE" -n "$NAMESPACE" --logs --timeout 5m

log "ready"
case "$TOOL" in
kind | k3d) edge="127.0.0.1:$RTMP_HOST_PORT" ;;
minikube) edge="$(minikube -p "$CLUSTER" ip):$NODE_PORT" ;;
esac
cat >&2 <<EOF
Publish:  ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine \\
                 -c:v libx264 -g 60 -c:a aac -f flv rtmp://$edge/live/test
Play:     ffplay rtmp://$edge/live/test
(If that address does not answer, e.g. on a cluster this script did not create, forward a port to
 the edge Service (kubectl --context $CONTEXT get svc -n $NAMESPACE) and use rtmp://127.0.0.1/live/test:
 kubectl --context $CONTEXT port-forward -n $NAMESPACE svc/<edge Service> 1935:1935)
More:     helm --kube-context $CONTEXT status $RELEASE -n $NAMESPACE; docs/kubernetes.md
EOF
