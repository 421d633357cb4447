// Package images checks the container images' recipe without a container
// engine: the Dockerfile's stages, the paths it copies and the programs it
// builds, the .dockerignore against what the build reads, and that the
// programs built as the Dockerfile builds them are static binaries that run.
// It also checks that the load Job in deploy/k8s and scripts/images.sh agree
// with the Dockerfile. It holds tests only.
package images
