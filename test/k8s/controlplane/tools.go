//go:build tools

// Package controlplane pins the Kubernetes control-plane programs that the
// chart tests run against. It holds no code of its own: scripts/k8s-bins.sh
// builds the imported commands from this module's go.mod and go.sum.
package controlplane

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
