#!/usr/bin/env bash
# Builds the container images of the edge, the controller and the load tool from the Dockerfile
# (one target each) and prints their names, one a line, on stdout:
#
#   scripts/images.sh                          # tributary/{edge,controller,load}:<chart appVersion>
#   REGISTRY=ghcr.io/acme TAG=1.2.0 scripts/images.sh
#   PLATFORM=linux/amd64,linux/arm64 PUSH=1 REGISTRY=ghcr.io/acme scripts/images.sh
#
# Settings (environment):
#   REGISTRY  prefix of the image names (ghcr.io/acme gives ghcr.io/acme/tributary/edge); empty: none,
#             as the chart's image.registry
#   TAG       image tag; empty: the chart's appVersion (charts/tributary/Chart.yaml), so that the
#             chart finds the images without --set image.tag
#   VERSION   version compiled into the programs (main.version); empty: git describe, else TAG
#   ENGINE    docker, podman or buildah; empty: the first that works, in that order
#   PLATFORM  target platform(s), e.g. linux/arm64; empty: the engine's own
#   PUSH      1 pushes the images (docker: buildx --push; podman/buildah: push after the build)
#             instead of keeping them in the local image store
#   TARGETS   the Dockerfile targets to build; default "edge controller load"
#   DRY_RUN   1 prints the commands instead of running them
#
# Progress goes to stderr; stdout holds only the image names.
set -euo pipefail
cd "$(dirname "$0")/.."

REGISTRY="${REGISTRY:-}"
TAG="${TAG:-}"
VERSION="${VERSION:-}"
ENGINE="${ENGINE:-}"
PLATFORM="${PLATFORM:-}"
PUSH="${PUSH:-}"
TARGETS="${TARGETS:-edge controller load}"
DRY_RUN="${DRY_RUN:-}"

log() { printf 'images: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

if [[ -z "$TAG" ]]; then
	if [[ -f charts/tributary/Chart.yaml ]]; then
		TAG="$(sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"[:space:]]*\)"\{0,1\}.*$/\1/p' charts/tributary/Chart.yaml | head -n 1)"
	fi
	TAG="${TAG:-dev}"
fi
if [[ -z "$VERSION" ]]; then
	VERSION="$(git describe --tags --always --dirty 2>/dev/null || true)"
	VERSION="${VERSION:-$TAG}"
fi

# engine_works tells whether an engine can build here, not merely whether its client is installed.
engine_works() {
	case "$1" in
	docker) command -v docker >/dev/null && docker info >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1 ;;
	podman) command -v podman >/dev/null && podman info >/dev/null 2>&1 ;;
	buildah) command -v buildah >/dev/null && buildah info >/dev/null 2>&1 ;;
	*) return 1 ;;
	esac
}

if [[ -z "$ENGINE" ]]; then
	for e in docker podman buildah; do
		if engine_works "$e"; then
			ENGINE="$e"
			break
		fi
	done
	if [[ -z "$ENGINE" ]]; then
		if [[ -n "$DRY_RUN" ]]; then
			ENGINE=docker
		else
			die "no container engine can build here: need a running Docker daemon with buildx, or podman, or buildah"
		fi
	fi
fi
case "$ENGINE" in
docker | podman | buildah) ;;
*) die "ENGINE must be docker, podman or buildah, not \"$ENGINE\"" ;;
esac
if [[ -z "$DRY_RUN" ]] && ! engine_works "$ENGINE"; then
	die "$ENGINE cannot build here (is its daemon or service running?)"
fi
if [[ -n "$PUSH" && -z "$REGISTRY" ]]; then
	die "PUSH=1 needs REGISTRY (e.g. REGISTRY=ghcr.io/acme)"
fi
if [[ "$ENGINE" == docker && -z "$PUSH" && "$PLATFORM" == *,* ]]; then
	die "docker can keep one platform in its local image store; with several platforms set PUSH=1"
fi

run() {
	if [[ -n "$DRY_RUN" ]]; then
		printf '%s\n' "$*" >&2
	else
		"$@"
	fi
}

image_name() {
	local name="tributary/$1:$TAG"
	if [[ -n "$REGISTRY" ]]; then
		name="${REGISTRY%/}/$name"
	fi
	printf '%s' "$name"
}

log "engine $ENGINE, tag $TAG, version $VERSION${PLATFORM:+, platform $PLATFORM}"
built=()
for target in $TARGETS; do
	img="$(image_name "$target")"
	args=(--file Dockerfile --target "$target" --tag "$img" --build-arg "VERSION=$VERSION")
	if [[ -n "$PLATFORM" ]]; then
		args+=(--platform "$PLATFORM")
	fi
	start=$SECONDS
	log "building $img"
	case "$ENGINE" in
	docker)
		if [[ -n "$PUSH" ]]; then
			args+=(--push)
		else
			args+=(--load)
		fi
		run docker buildx build "${args[@]}" .
		;;
	podman)
		run podman build "${args[@]}" .
		if [[ -n "$PUSH" ]]; then
			run podman push "$img"
		fi
		;;
	buildah)
		run buildah build "${args[@]}" .
		if [[ -n "$PUSH" ]]; then
			run buildah push "$img"
		fi
		;;
	esac
	log "built $img in $((SECONDS - start))s"
	built+=("$img")
done
printf '%s\n' "${built[@]}"
