# syntax=docker/dockerfile:1
#
# Images of the edge, the controller and the load tool, one target each:
#
#   docker buildx build --target edge       -t tributary/edge:TAG .
#   docker buildx build --target controller -t tributary/controller:TAG .
#   docker buildx build --target load       -t tributary/load:TAG .
#
# `make images` builds all three (REGISTRY=... TAG=... VERSION=...). The programs are static Go
# binaries (CGO_ENABLED=0) on a distroless base, running as the nonroot user (uid/gid 65532).
# test/images checks this file: stages, copied paths, build commands, static binaries.

ARG GO_VERSION=1.26
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

# build compiles the programs on the machine's own platform, for the target platform.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY cmd ./cmd
COPY internal ./internal
COPY pkg ./pkg
COPY test/load ./test/load
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/tributary-edge ./cmd/edge && \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/tributary-controller ./cmd/controller && \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w" -o /out/tributary-load ./test/load && \
    go build -trimpath -ldflags="-s -w" -o /native/tributary-load ./test/load

# sample is the load tool's default input (720p30 H.264 at about 3 Mbit/s plus AAC, 10 s), made
# with ffmpeg once at build time, so that the load image needs no ffmpeg. The FLV does not depend
# on the platform: it is made with the build machine's own load tool.
FROM --platform=$BUILDPLATFORM debian:bookworm-slim AS sample
RUN apt-get update && \
    apt-get install -y --no-install-recommends ffmpeg && \
    rm -rf /var/lib/apt/lists/*
COPY --from=build /native/tributary-load /usr/local/bin/tributary-load
RUN mkdir -p /out && tributary-load -generate-input /out/sample.flv

# controller: the control plane (leader election, reaper, events, admin API on :8081).
FROM ${RUNTIME_IMAGE} AS controller
ARG VERSION=dev
LABEL org.opencontainers.image.title="tributary-controller" \
      org.opencontainers.image.description="Tributary controller: leader election, reaper, stream events, admin API" \
      org.opencontainers.image.source="https://github.com/tributary-media/tributary" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/tributary-controller /usr/local/bin/tributary-controller
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/tributary-controller"]

# load: the load generator with a ready input at /usr/share/tributary/sample.flv (pass it with -input).
FROM ${RUNTIME_IMAGE} AS load
ARG VERSION=dev
LABEL org.opencontainers.image.title="tributary-load" \
      org.opencontainers.image.description="Tributary load generator: RTMP publishers and players, delivery and latency as JSON" \
      org.opencontainers.image.source="https://github.com/tributary-media/tributary" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/tributary-load /usr/local/bin/tributary-load
COPY --from=sample /out/sample.flv /usr/share/tributary/sample.flv
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tributary-load"]

# edge: RTMP on :1935 (RTMPS on :1936 when configured), health and metrics on :8080, and the admin
# API on :8081 when it runs the embedded etcd server and the controller in-process (no
# -etcd-endpoints). The last stage, so a build without --target makes the edge.
FROM ${RUNTIME_IMAGE} AS edge
ARG VERSION=dev
LABEL org.opencontainers.image.title="tributary-edge" \
      org.opencontainers.image.description="Tributary edge: RTMP ingest and playback over a NATS media bus" \
      org.opencontainers.image.source="https://github.com/tributary-media/tributary" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/tributary-edge /usr/local/bin/tributary-edge
USER 65532:65532
EXPOSE 1935 1936 8080 8081
ENTRYPOINT ["/usr/local/bin/tributary-edge"]
