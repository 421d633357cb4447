#!/usr/bin/env bash
# The project's one test command (README: `make test`). It installs what the
# tests need when it is missing, vets, runs every test with the race detector
# (and the allocation tests once more without it),
# gives each fuzz target a short run, then tests the Helm chart and the
# Kubernetes manifests, on a real API server (scripts/test-k8s.sh; the API
# server is built once into a cache directory: the first run on a machine
# spends 15 to 30 minutes building it).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
go vet ./...
go test -race -count=1 -timeout 25m ./...
# The allocation budgets once more without the race detector, which adds
# allocations of its own (some budgets are only exact without it).
go test -count=1 -run 'Alloc' ./pkg/... ./internal/edge
scripts/fuzz.sh "${FUZZTIME:-10s}"
scripts/test-k8s.sh
