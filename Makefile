# am-fanout — build, run and test.
#
#   make run    build and run am-fanout on examples/am-fanout.yml
#   make test   vet, format check and every test (race detector on), including
#               the end-to-end test against a real Alertmanager
#   make help   list every target

GO      ?= go
BINARY  ?= am-fanout
BIN_DIR ?= $(CURDIR)/bin

# Version metadata stamped into the binary through prometheus/common/version,
# so that --version and am_fanout_build_info say what was built. A VERSION
# file wins over git; a tree without git still builds.
VERSION    ?= $(shell cat VERSION 2>/dev/null || git describe --tags --always --dirty 2>/dev/null || echo unknown)
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH     ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_USER ?= $(shell whoami 2>/dev/null || echo unknown)@$(shell hostname 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)

VERSION_PKG := github.com/prometheus/common/version
LDFLAGS := -s -w \
	-X $(VERSION_PKG).Version=$(VERSION) \
	-X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) \
	-X $(VERSION_PKG).BuildUser=$(BUILD_USER) \
	-X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

# Alertmanager and amtool for local experiments. The end-to-end test installs
# the same version into the same folder by itself when it is missing. Newer
# tags do not build with go install.
ALERTMANAGER_VERSION ?= 0.31.1
ALERTMANAGER_MODULE  := github.com/prometheus/alertmanager
ALERTMANAGER_LDFLAGS := -X $(VERSION_PKG).Version=$(ALERTMANAGER_VERSION)

# staticcheck, pinned; `make lint` installs it into bin/ when missing.
STATICCHECK_VERSION ?= 0.8.2

# Extra flags for `make run`, such as RUN_ARGS=--web.listen-address=127.0.0.1:9199.
RUN_ARGS ?=

# Benchmarks: every package by default; narrow with BENCH_PKGS=./fanout/.
BENCH_PKGS ?= ./...
BENCHTIME  ?= 1s
BENCH      ?= .

.DEFAULT_GOAL := build

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build ./am-fanout, statically, with version metadata.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BINARY) ./cmd/am-fanout

.PHONY: run
run: build ## Build and run am-fanout on examples/am-fanout.yml.
	./$(BINARY) --config.file=examples/am-fanout.yml --storage.path=data/ $(RUN_ARGS)

.PHONY: test
test: vet fmt-check ## Vet, check formatting, run every test with the race detector, then fuzz briefly.
	$(GO) test -race -count=1 ./...
	$(MAKE) fuzz

# Fuzzing runs a fixed number of inputs per target, so that it is bounded
# in time; the seed corpora are in the packages' testdata/fuzz/.
FUZZ_EXECS ?= 20000x

.PHONY: fuzz
fuzz: ## Fuzz the webhook decoder and the config loader for a bounded number of inputs.
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZ_EXECS) ./enrich/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZ_EXECS) ./config/

.PHONY: vet
vet: ## Run go vet on every package.
	$(GO) vet ./...

.PHONY: lint
lint: ## Run staticcheck (the pinned version, installed into bin/) on every package.
	@"$(BIN_DIR)/staticcheck" -version 2>/dev/null | grep -q "($(STATICCHECK_VERSION))" || \
		GOBIN="$(BIN_DIR)" $(GO) install honnef.co/go/tools/cmd/staticcheck@v$(STATICCHECK_VERSION)
	"$(BIN_DIR)/staticcheck" ./...

.PHONY: fmt-check
fmt-check: ## Fail when a Go file is not gofmt-formatted.
	@unformatted="$$(gofmt -l $$(find . -name '*.go' -not -path './bin/*' -not -path './.git/*'))"; \
	if [ -n "$$unformatted" ]; then \
		echo "These files are not gofmt-formatted (run gofmt -w on them):"; \
		echo "$$unformatted"; \
		exit 1; \
	fi

.PHONY: bench
bench: ## Run the benchmarks (BENCH_PKGS, BENCH, BENCHTIME narrow them).
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) $(BENCH_PKGS)

.PHONY: alertmanager
alertmanager: ## Install the pinned Alertmanager and amtool into bin/.
	@missing=""; \
	for cmd in alertmanager amtool; do \
		"$(BIN_DIR)/$$cmd" --version 2>&1 | grep -q "version $(ALERTMANAGER_VERSION) " || \
			missing="$$missing $(ALERTMANAGER_MODULE)/cmd/$$cmd@v$(ALERTMANAGER_VERSION)"; \
	done; \
	if [ -z "$$missing" ]; then \
		echo "alertmanager and amtool $(ALERTMANAGER_VERSION) are already in $(BIN_DIR)"; \
	else \
		echo "installing$$missing into $(BIN_DIR)"; \
		GOBIN="$(BIN_DIR)" $(GO) install -ldflags '$(ALERTMANAGER_LDFLAGS)' $$missing; \
	fi

.PHONY: deploy-check
deploy-check: build ## Lint and render the Helm chart strictly, check rules, dashboard and metric names.
	./deploy/check.sh

.PHONY: clean
clean: ## Remove the binary, installed tools and example output.
	rm -rf $(BINARY) $(BIN_DIR) data/ examples/data/
