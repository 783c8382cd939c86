# Ferry's build. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/.bin
MODULES   := proto libs services/profile services/ingest services/transform services/export services/delivery services/ferry
# Build and deploy tooling with modules of their own, outside go.work: the
# Helm chart's tests (deploy/chart) and the engine-less image builder (deploy/image).
DEPLOY_MODULES := deploy/chart deploy/image
SERVICES  := profile ingest transform export delivery
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ferry
FERRY_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
export FERRY_TEST_DATABASE_URL

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}'

$(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc: proto/go.mod deploy/tools/go.mod
	@mkdir -p $(BIN)
	GOBIN=$(BIN) GOWORK=off $(GO) -C proto install tool
	GOBIN=$(BIN) GOWORK=off $(GO) -C deploy/tools install tool

.PHONY: tools
tools: $(BIN)/buf ## install the pinned code generators into .bin

.PHONY: generate
generate: tools ## lint the protos and regenerate the Go code
	PATH=$(BIN):$$PATH buf lint
	PATH=$(BIN):$$PATH buf generate

.PHONY: checkgenerate
checkgenerate: generate ## fail when the committed generated code is not what the protos generate
	@git diff --exit-code -- proto/gen || (echo "generated code is stale: run make generate and commit" && exit 1)
	@test -z "$$(git status --porcelain --untracked-files=all -- proto/gen | grep '^??')" || (echo "untracked generated files: run make generate and commit" && exit 1)

.PHONY: checkdeps
checkdeps: ## fail when a service module requires anything of ours but libs and proto
	@fail=0; for s in $(SERVICES); do \
		bad=$$(cd services/$$s && $(GO) list -deps ./... | grep '^github.com/ferrydata/ferry/' | grep -v -e '^github.com/ferrydata/ferry/libs' -e '^github.com/ferrydata/ferry/proto' -e "^github.com/ferrydata/ferry/services/$$s"); \
		if [ -n "$$bad" ]; then echo "services/$$s imports: $$bad"; fail=1; fi; \
		if grep -v '^module' services/$$s/go.mod | grep -q 'ferrydata/ferry/services/'; then echo "services/$$s/go.mod requires another service"; fail=1; fi; \
	done; exit $$fail
	@echo "service modules depend only on libs and proto"

.PHONY: vet
vet: ## go vet and gofmt every module
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done
	@for m in $(DEPLOY_MODULES); do (cd $$m && GOWORK=off $(GO) vet ./...) || exit 1; done
	@test -z "$$(gofmt -l libs services $(DEPLOY_MODULES))" || (gofmt -l libs services $(DEPLOY_MODULES) && exit 1)

.PHONY: tidy
tidy: ## go mod tidy every module
	@for m in $(MODULES) $(DEPLOY_MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy) || exit 1; done

.PHONY: build
build: ## build bin/ferry
	$(GO) build -o bin/ferry ./services/ferry

.PHONY: run
run: build ## build and start every service with embedded NATS against the local PostgreSQL (DATABASE_URL)
	@mkdir -p .data && test -s .data/secret.key || (umask 077 && head -c 32 /dev/urandom | base64 > .data/secret.key && echo "created .data/secret.key (seals destination credentials; keep it)")
	FERRY_SECRET_KEY_FILE=.data/secret.key bin/ferry server --database-url "$(DATABASE_URL)" --data-dir .data --grpc-addr 127.0.0.1:9090 --http-addr 127.0.0.1:8080

.PHONY: test
test: ## run every test of every module (needs PostgreSQL): race-checked, then the heavy ones, then a short fuzz run
	@fail=0; for m in $(MODULES); do \
		echo "=== $$m"; (cd $$m && $(GO) test -race -short -count=1 -timeout 20m ./...) || fail=1; \
	done; exit $$fail
	@$(MAKE) --no-print-directory chart
	@$(MAKE) --no-print-directory test-image
	@$(MAKE) --no-print-directory test-heavy
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(SHORT_FUZZTIME)

# Tests that -short skips: million-row files, the 200 000-row import and export. They
# run without the race detector, which would multiply their time and checks
# nothing the race-checked run does not.
.PHONY: test-heavy
test-heavy: ## run the tests that -short skips (large files), without the race detector
	cd libs && $(GO) test -count=1 -timeout 20m -run '^TestBigSheetMemory$$' ./formats/xlsx/
	cd services/ferry && $(GO) test -count=1 -timeout 20m -run '^(TestImportEndToEnd|TestMillionRowXLSX|TestExportFormatsRoundTrip)$$' .

# Native Go fuzz targets, as package:target.
FUZZ_TARGETS := libs/formats/delimited:FuzzSplitRead libs/formats/textenc:FuzzDecode libs/formats/xlsx:FuzzRows libs/formats/xls:FuzzRows libs/values:FuzzParseNumber libs/values:FuzzParseDate
FUZZTIME ?= 5m
SHORT_FUZZTIME ?= 8s

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 5m) each
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; mod=$${pkg%%/*}; \
		echo "=== fuzz $$name in $$pkg for $(FUZZTIME)"; \
		deploy/fuzz.sh $$mod $${pkg#*/} $$name $(FUZZTIME) || exit 1; \
	done

# `make bench` measures Ferry end to end — the real binary, all-in-one and
# scaled out — against psql's \copy and COPY TO on the same database in the
# same run, on generated files (docs/performance.md). Timings live here,
# never in `make test`.
BENCH_ROWS ?= 1000000,5000000
BENCH_RUNS ?= 3
BENCH_RUNS_LARGE ?= 1
BENCH_MODE ?= both
BENCH_OUT  ?= bench-results.json
BENCH_PPROF ?=

.PHONY: bench
bench: build ## end-to-end benchmark: imports, exports, XLSX, peak RSS and stage timings against COPY (BENCH_ROWS, BENCH_RUNS, BENCH_MODE, BENCH_OUT, BENCH_PPROF)
	BENCH_ROWS="$(BENCH_ROWS)" BENCH_RUNS="$(BENCH_RUNS)" BENCH_RUNS_LARGE="$(BENCH_RUNS_LARGE)" BENCH_MODE="$(BENCH_MODE)" BENCH_OUT="$(BENCH_OUT)" BENCH_PPROF="$(BENCH_PPROF)" \
		BENCH_FERRY="$(CURDIR)/bin/ferry" $(GO) run ./services/ferry/bench

# The micro-benchmarks print rows per second and, as ratios, how they compare
# with PostgreSQL's own COPY of the same rows on the same database in the same run.
BENCHTIME ?= 3x
.PHONY: bench-micro
bench-micro: ## go-test benchmarks of delivery staging + apply, transform and exports against PostgreSQL's COPY; prints ratios
	@set -o pipefail; { \
		(cd services/delivery && $(GO) test -count=1 -run '^$$' -bench '^BenchmarkDelivery$$' -benchtime $(BENCHTIME) ./internal/apply/) && \
		(cd services/transform && $(GO) test -count=1 -run '^$$' -bench '^BenchmarkTransform$$' -benchtime 20x -cpu 1 ./internal/records/) && \
		(cd services/ferry && $(GO) test -count=1 -run '^$$' -bench '^BenchmarkExport$$' -benchtime $(BENCHTIME) ./internal/pipeline/) && \
		(cd services/ferry && $(GO) test -count=1 -timeout 30m -run '^$$' -bench '^BenchmarkExportMemory$$' -benchtime 1x ./internal/pipeline/); \
	} | tee /dev/stderr | awk -f deploy/bench/summary.awk

.PHONY: chart
chart: ## lint, render and strictly validate the Helm chart helm/ferry for several value sets (Go tests in deploy/chart; no cluster, no helm binary)
	cd deploy/chart && GOWORK=off $(GO) test -count=1 ./...

.PHONY: helm-lint
helm-lint: ## helm lint (warnings are errors) of helm/ferry for every tested value set
	cd deploy/chart && GOWORK=off $(GO) test -count=1 -run '^TestLint$$' ./...

# The container image: deploy/Dockerfile with an engine, deploy/image without
# one; both lay out the same image (deploy/image's tests fail when they drift).
IMAGE             ?= ferry:dev
IMAGE_TAR         ?= bin/ferry-image.tar
IMAGE_GOARCH      ?= $(shell $(GO) env GOARCH)
IMAGE_BIN         ?= bin/ferry-linux-$(IMAGE_GOARCH)
VERSION           ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: image
image: ## build the container image $(IMAGE) from deploy/Dockerfile with docker or podman
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
		echo "building $(IMAGE) with docker"; \
		DOCKER_BUILDKIT=1 docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t $(IMAGE) .; \
	elif command -v podman >/dev/null 2>&1; then \
		echo "building $(IMAGE) with podman"; \
		podman build -f deploy/Dockerfile --ignorefile deploy/Dockerfile.dockerignore --build-arg VERSION=$(VERSION) -t $(IMAGE) .; \
	else \
		echo "no container engine: docker is missing or cannot reach its daemon, and podman is missing." >&2; \
		echo "make image-tarball builds the same image into $(IMAGE_TAR) without one; load it with docker load -i or podman load -i." >&2; \
		exit 1; \
	fi

.PHONY: image-tarball
image-tarball: ## build the container image without an engine into $(IMAGE_TAR) (docker load, podman load, skopeo oci-archive:)
	@mkdir -p $(dir $(IMAGE_BIN))
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_GOARCH) $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(IMAGE_BIN) ./services/ferry
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) GOWORK=off $(GO) -C deploy/image run . -binary $(abspath $(IMAGE_BIN)) -out $(abspath $(IMAGE_TAR)) -tag $(IMAGE) -version $(VERSION)

.PHONY: test-image
test-image: ## test the engine-less image builder on a static ferry build, and deploy/Dockerfile against it
	cd deploy/image && GOWORK=off $(GO) test -count=1 -timeout 10m ./...
