# Build flags live in hack/build-env.sh so that make, .ci/run and the tests share one build cache.
SHELL := /bin/bash
ENV := source hack/build-env.sh &&
# Builds that link k8s.io/kubernetes take 2-3 GB each: never run two at once.
HEAVY := flock /tmp/kplex-heavy-build.lock

.PHONY: generate demo demo-down devhost-up devhost-down bench-devhost build kplexd kplex-netgate kplex-devhost kplex baseline test test-short bench fmt vet clean

build: kplexd kplex-netgate kplex-devhost kplex

# The README's first command (root): build, bring the devhost up, install kplex, two
# tenants each running a web server, each seeing only its own world.
demo:
	@[ "$$(id -u)" = 0 ] || { echo "make demo: the devhost creates a network namespace and runs containers: run sudo make demo"; exit 1; }
	$(MAKE) build
	$(ENV) go run ./hack/demo -bin $(CURDIR)/bin

# Deletes the demo's tenants and stops the devhost.
demo-down:
	$(ENV) go run ./hack/demo -bin $(CURDIR)/bin -down

kplexd:
	$(ENV) $(HEAVY) go build -ldflags "$$KPLEX_LDFLAGS" -o bin/kplexd ./cmd/kplexd

# The network gate, the first init container of every tenant pod: a small static binary
# on the standard library alone (the check enforces it), shipped in the kplexd image
# next to kplexd. kplex-devhost takes it from next to the kplexd binary.
kplex-netgate:
	@bad=$$($(ENV) go list -deps ./cmd/kplex-netgate | grep '\.' | grep -v -e '^vendor/' -e '^github.com/kplex-dev/kplex/'); \
	  if [ -n "$$bad" ]; then echo "kplex-netgate: must use the standard library only, links: $$bad"; exit 1; fi
	$(ENV) go build -ldflags "$$KPLEX_LDFLAGS" -o bin/kplex-netgate ./cmd/kplex-netgate

# The CLI is a light build (it never links k8s.io/kubernetes, which the check
# enforces), so it needs no HEAVY lock.
kplex:
	@n=$$($(ENV) go list -deps ./cmd/kplex | grep -c '^k8s.io/kubernetes'); \
	  if [ "$$n" != 0 ]; then echo "kplex: links $$n k8s.io/kubernetes packages; the CLI must not (go list -deps ./cmd/kplex)"; exit 1; fi
	$(ENV) go build -ldflags "$$KPLEX_LDFLAGS -X github.com/kplex-dev/kplex/internal/cli/version.commit=$$(git describe --always --dirty 2>/dev/null)" -o bin/kplex ./cmd/kplex

kplex-devhost:
	@if [ -d cmd/kplex-devhost ]; then $(ENV) $(HEAVY) go build -ldflags "$$KPLEX_LDFLAGS" -o bin/kplex-devhost ./cmd/kplex-devhost; fi
	@if [ -d cmd/kplex-pause ]; then $(ENV) go build -ldflags "$$KPLEX_LDFLAGS" -o bin/kplex-pause ./cmd/kplex-pause; fi

# Unit tests only: no servers, seconds.
test-short:
	$(ENV) go test -short ./...

# Everything: unit, integration against the built binaries on SQLite, PostgreSQL and
# etcd, end-to-end on the devhost when root. What CI runs.
test:
	hack/test.sh

# The upstream baseline, from the same module (same versions, same flags).
baseline:
	$(ENV) $(HEAVY) go build -ldflags "$$KPLEX_LDFLAGS" -o bin/baseline/ k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager github.com/k3s-io/kine

bench: build baseline
	$(ENV) go run ./hack/bench -bin $(CURDIR)/bin -out BENCHMARKS.md
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) bench-devhost; else echo "bench: the devhost benchmark needs root (sudo make bench-devhost)"; fi

# The devhost benchmarks (root): up to Ready, pod start latency, idle memory; then
# kplex create --wait to Ready, one at a time and 10 at once, and each control plane's memory.
bench-devhost: build
	$(ENV) go run ./hack/bench/devhost -bin $(CURDIR)/bin -out BENCHMARKS.md
	$(ENV) go run ./hack/bench/virtualclusters -bin $(CURDIR)/bin -out BENCHMARKS.md

# A real single-node host for trying kplex by hand (root).
devhost-up: build
	bin/kplex-devhost up

devhost-down:
	bin/kplex-devhost down

# Deepcopy functions and the VirtualCluster CRD from the types in api/ (the version is
# also in api/v1alpha1/crd/generate.go, whose test fails when the CRD is stale).
generate:
	$(ENV) go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0 object crd paths=./api/... output:crd:dir=./api/v1alpha1/crd

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(ENV) go vet ./...

clean:
	rm -rf bin
