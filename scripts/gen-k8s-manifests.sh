#!/usr/bin/env bash
# Writes deploy/k8s/base, the plain manifests for users who do not use Helm, from the chart
# (charts/tributary) rendered with its default values as release "tributary" in namespace
# "tributary". The rendering is the Helm SDK's, the same the chart tests use; test/k8s fails when
# the committed files differ from it, so run this after every change to the chart.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cd test/k8s
go run ./cmd/gen-manifests -chart "$root/charts/tributary" -out "$root/deploy/k8s/base"
