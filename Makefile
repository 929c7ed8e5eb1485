# Run `make help` for the targets.
GO ?= go
# An execution count: Go 1.26 can fail spuriously on a duration (golang/go#75804).
FUZZTIME ?= 300000x

.PHONY: help run demo test bench bench-proxy soak fuzz lint build opa-test

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

demo: ## Run the self-contained quickstart (no services needed)
	$(GO) run ./cmd/gateway demo

run: ## Serve with ./config.yaml (needs Redis and GATEWAY_SECRET_KEY)
	$(GO) run ./cmd/gateway serve --config config.yaml

build: ## Build ./bin/gateway
	$(GO) build -trimpath -o bin/gateway ./cmd/gateway

test: ## Run the whole test suite (needs redis-server on PATH)
	$(GO) test -race -count=1 ./...

bench: ## Run the benchmarks with allocations
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-proxy: ## Gateway vs bare Go proxy vs nginx under wrk (bench/run.sh; QUICK=1 for a smoke test)
	bench/run.sh

soak: ## Steady load for SOAK (default 10m): memory, goroutines, errors (bench/soak.sh)
	bench/soak.sh

fuzz: ## Run each fuzz target for FUZZTIME
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

lint: ## gofmt, go vet, and opa check/fmt when opa is installed
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@if command -v opa >/dev/null; then opa check --strict policies/ && opa fmt --fail --list policies/; fi

opa-test: ## Run the Rego tests with the opa CLI
	opa test policies/ -v
