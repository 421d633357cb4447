// Package k8s holds the checks of the Helm chart (charts/tributary) and of the plain manifests
// (deploy/k8s):
//
//   - chart_test.go renders the chart with the Helm SDK for several value sets, decodes every
//     manifest strictly into typed Kubernetes objects, checks the wiring between them and runs
//     Helm's lint with warnings as failures;
//   - manifests_test.go decodes every YAML file under deploy/k8s strictly, builds the kustomize
//     directories, and checks that deploy/k8s/base is the chart's current rendering;
//   - apiserver_test.go installs, upgrades and uninstalls the chart on a real kube-apiserver
//     (envtest, binaries from scripts/k8s-bins.sh in KUBEBUILDER_ASSETS) and creates every object
//     of deploy/k8s there.
//
// It is a module of its own so that the Helm and Kubernetes libraries never enter the main
// module. scripts/test-k8s.sh runs it.
package k8s
