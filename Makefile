# kindstack — build and test entry points. `make help` lists them.
SHELL := /bin/bash
export GOTOOLCHAIN := local
export CGO_ENABLED := 0

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/kindstack/kindstack/internal/cli.Version=$(VERSION)
BIN := bin/kindstack
GO_TEST_FLAGS ?=

.PHONY: help build run offline-images engine-env engine-stop engine-remove test fuzz integration e2e bench-e2e testbed standins-test check engines lint fmt tidy verify clean

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/kindstack (static, trimmed, version stamped)
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

# ARGS are kindstack up's flags, e.g. make run ARGS="--http-port 8080 --https-port 8443".
run: build ## build, then bring the whole environment up (its engine and images wherever they can be had: internal/makerun/run.sh)
	bash internal/makerun/run.sh up $(ARGS)

offline-images: build ## build every image the stack runs from source (Go module proxy + Debian mirror), cached, and the images map
	bash internal/makerun/run.sh offline-images $(ARGS)

engine-env: ## print the DOCKER_HOST export of kindstack's private engine, for eval
	@bash internal/makerun/run.sh engine-env

engine-stop: ## stop kindstack's private engine (its clusters stop too; make run starts it again)
	bash internal/makerun/run.sh engine-stop

engine-remove: ## stop kindstack's private engine and delete its data (refused while it runs clusters; FORCE=1)
	bash internal/makerun/run.sh engine-remove

# -race needs cgo; only the test binaries are built with it, the binary stays static.
test: ## unit tier with the race detector: no cluster, no network, seconds; then every fuzz target for FUZZTIME
	CGO_ENABLED=1 go test -race $(GO_TEST_FLAGS) ./...
	@$(MAKE) --no-print-directory fuzz

# Go fuzzes one target per run: each `func Fuzz...` in the tree for FUZZTIME. A crash is written to
# the package's testdata/fuzz/<target>/ and fails the run: commit it, and it stays a test.
FUZZTIME ?= 20s
# Go minimizes each new interesting input for up to 60 s by default, fuzzing nothing meanwhile: the
# kubeconfig merge target spent whole 20 s runs minimizing (21 executions instead of thousands).
FUZZMINIMIZETIME ?= 1s
fuzz: ## every fuzz target for FUZZTIME (default 20s), one after the other
	@set -e; git grep -n '^func Fuzz' -- '*_test.go' | sed -E 's|^(.*)/[^/]*:[0-9]+:func (Fuzz[A-Za-z0-9_]*)\(.*|\1 \2|' | \
	while read -r dir target; do \
	  echo "fuzz ./$$dir $$target for $(FUZZTIME)"; \
	  log=$$(mktemp); \
	  if ! go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) "./$$dir" >"$$log" 2>&1; then cat "$$log"; rm -f "$$log"; exit 1; fi; \
	  grep -E '^fuzz: elapsed: [0-9]+s, execs' "$$log" | tail -1; rm -f "$$log"; \
	done

integration: ## integration tier: a real etcd + kube-apiserver + controller-manager + scheduler on loopback
	bash e2e/testbed/controlplane.sh prepare
	go test $(GO_TEST_FLAGS) -tags integration -count=1 -parallel 8 -timeout 20m ./...

# The e2e tier runs on the air-gapped test bed: the private Docker engine (DOCKER_HOST from
# `setup.sh env`) and the config that points every image at one built locally.
E2E_ENV = eval "$$(bash e2e/testbed/setup.sh env)" && export KINDSTACK_E2E_CONFIG=$(CURDIR)/e2e/testdata/airgap.yaml KINDSTACK_E2E_MULTINODE_CONFIG=$(CURDIR)/e2e/testdata/airgap-multinode.yaml
E2E_ARTIFACTS ?= $(CURDIR)/bin/e2e-diagnostics

testbed: ## air-gapped kind test bed: private Docker engine, node image, stand-in images (cached)
	bash e2e/testbed/setup.sh all
	bash e2e/testbed/standins.sh all
	bash e2e/testbed/traefik.sh all
	bash e2e/testbed/flannel.sh all
	bash e2e/testbed/registry.sh build
	bash e2e/testbed/distribution.sh build

standins-test: testbed ## the test bed's own Go code: stand-ins' unit tests (with a real PostgreSQL) and their images
	bash e2e/testbed/standins.sh check
	cd e2e/testbed/tools && go vet ./...
	cd e2e/testbed/flannel && go vet ./cmd/...

e2e: testbed standins-test ## e2e tier: kindstack against a real kind cluster on the test bed
	$(E2E_ENV) && KINDSTACK_E2E_ARTIFACTS=$(E2E_ARTIFACTS) go test $(GO_TEST_FLAGS) -tags e2e -count=1 -timeout 60m -v ./e2e/...

# The bench writes its tables to bin/bench.md and into README.md's Speed section.
bench-e2e: testbed ## benchmark: bare kind vs up, up again, status, recreate, and the tutorial by hand (kind CLI + kubectl)
	bash e2e/testbed/tutorial.sh build
	$(E2E_ENV) && KINDSTACK_BENCH_OUT=$(CURDIR)/bin/bench.md KINDSTACK_BENCH_README=$(CURDIR)/README.md \
	  go test -tags e2e -run '^$$' -bench . -benchtime 1x -timeout 90m ./e2e/

check: verify test integration e2e ## everything CI runs

# Not in check (CI's 90 minutes): each engine builds or installs its own, then runs its own check.
engines: testbed ## the other engines the README claims, each proven on the test bed: Docker's containerd image store, then Podman
	bash e2e/testbed/engine2.sh all check stop
	bash e2e/testbed/podman.sh all check

lint: ## gofmt check, go vet (every build tag; linux, darwin, windows)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	go vet -tags integration ./...
	go vet -tags e2e ./...
	@# kind drives Docker Desktop on macOS and Windows too: kindstack must build there.
	GOOS=darwin go vet ./...
	GOOS=windows go vet ./...

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

tidy: ## go mod tidy
	go mod tidy

verify: lint ## lint + go.mod is tidy
	@cp go.mod /tmp/kindstack-go.mod.bak && cp go.sum /tmp/kindstack-go.sum.bak; \
	go mod tidy; \
	if ! git diff --quiet -- go.mod go.sum; then echo "go.mod/go.sum not tidy: run make tidy"; git diff -- go.mod go.sum | head -40; \
	  cp /tmp/kindstack-go.mod.bak go.mod; cp /tmp/kindstack-go.sum.bak go.sum; exit 1; fi

clean: ## remove build outputs (the test bed cache is kept: bash e2e/testbed/setup.sh clean removes it)
	rm -rf bin
