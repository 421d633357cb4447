#!/usr/bin/env bash
# The project's one test command (README: `make test`). It installs what the
# tests need when it is missing, vets, runs every test with the race detector
# and gives each fuzz target a short run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
go vet ./...
go test -race -count=1 -timeout 25m ./...
scripts/fuzz.sh "${FUZZTIME:-10s}"
