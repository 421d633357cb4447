#!/usr/bin/env bash
# Tests the Helm chart and deploy/k8s (test/k8s): renders and lints the chart, decodes every
# manifest strictly, and installs, upgrades and uninstalls the chart on a real kube-apiserver.
# The API server and its etcd come from scripts/k8s-bins.sh (built once into a cache directory;
# a cold build takes 15 to 30 minutes). test/k8s is a module of its own, so the Helm and
# Kubernetes libraries stay out of the main module.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBEBUILDER_ASSETS="$(scripts/k8s-bins.sh)"
export KUBEBUILDER_ASSETS

cd test/k8s
# test/k8s loads the chart's configuration files with the main module's internal/config
# (a replace of ../..), so its go.sum must also cover the main module's requirements. -mod=mod
# adds what a change of the main go.mod made missing instead of failing; the check below says so.
sums_before=$(cat go.mod go.sum | sha256sum)
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
go vet ./...
go test -count=1 -timeout 20m ./...
if [ "$(cat go.mod go.sum | sha256sum)" != "$sums_before" ]; then
	echo "test-k8s.sh: note: test/k8s/go.mod or go.sum was out of date and has been updated; commit it (or run go mod tidy in test/k8s)" >&2
fi
