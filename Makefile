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
