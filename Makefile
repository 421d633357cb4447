.PHONY: test vet fuzz bench deps

# The one test command: installs missing test tools, vets, tests with -race,
# and runs each fuzz target briefly.
test:
	scripts/test.sh

deps:
	scripts/deps.sh

vet:
	go vet ./...

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

bench:
	go test -run='^$$' -bench=. -benchmem ./pkg/...

# Container images of the edge, the controller and the load tool (Dockerfile targets), built with
# docker buildx, podman or buildah: tributary/{edge,controller,load}:$(TAG). REGISTRY prefixes the
# names (as the chart's image.registry); TAG defaults to the chart's appVersion. More settings
# (PLATFORM, PUSH, ENGINE) in scripts/images.sh.
.PHONY: images
images:
	REGISTRY="$(REGISTRY)" TAG="$(TAG)" VERSION="$(VERSION)" scripts/images.sh
