# Appward: `make run` serves the product, `make test` checks it. Everything installs itself.
SHELL := /bin/bash
PYTHON ?= python3
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet 'uv>=0.5,<1'

.PHONY: install
install: $(UV) ## create .venv with the runtime dependencies (from uv.lock)
	$(UV) sync --frozen --no-dev --python $(PYTHON)

.PHONY: install-dev
install-dev: $(UV) ## create .venv with the dev extras (from uv.lock)
	$(UV) sync --frozen --extra dev --python $(PYTHON)

.PHONY: migrate
migrate: install ## apply migrations to the configured database
	$(BIN)/appward db upgrade

.PHONY: run
run: migrate ## set up the embedded database, create an admin client once, serve on :8000
	@$(BIN)/appward admin create-client bootstrap-admin --if-none
	$(BIN)/appward serve --host 127.0.0.1 --port 8000

.PHONY: check
check: install-dev ## format check, then mypy, then ruff, then the import contracts
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/ruff check src tests
	$(BIN)/lint-imports --no-cache

.PHONY: fmt
fmt: install-dev ## format and fix lint
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

.PHONY: bench
bench: install ## token endpoint vs node-oidc-provider (1 and 2 processes), then the flood check
	bench/run.sh --workers 1
	bench/run.sh --workers 2
	bench/flood.sh --workers 1

# axe-core for the browser tests, from tests/e2e/package-lock.json (npm's ordinary client).
AXE := tests/e2e/node_modules/axe-core/axe.min.js
$(AXE): tests/e2e/package.json tests/e2e/package-lock.json
	npm ci --prefix tests/e2e --no-audit --no-fund --ignore-scripts
	@touch $@

.PHONY: browser-deps
browser-deps: $(AXE) ## install what the browser tests inject (axe-core, pinned in tests/e2e)

.PHONY: fuzz
fuzz: install-dev ## schemathesis over every operation of /openapi.json, longer than make test's run
	APPWARD_FUZZ_EXAMPLES=$${APPWARD_FUZZ_EXAMPLES:-60} $(BIN)/pytest -q -s -p no:cacheprovider \
		tests/functional/test_fuzz.py $(PYTEST_ARGS)

.PHONY: test-mtls
test-mtls: install-dev ## the mutual TLS end-to-end test: nginx (docs/nginx-mtls.conf) before a served app
	APPWARD_REQUIRE_NGINX=1 $(BIN)/pytest -q -p no:cacheprovider tests/e2e/test_mtls_nginx.py $(PYTEST_ARGS)

# One pytest worker per core (pytest-xdist); tests/README.md says what keeps a test safe
# beside another worker. TEST_WORKERS=0 runs the suite in this one process.
TEST_WORKERS ?= 2

.PHONY: test
test: check browser-deps ## lint, type-check, then the whole test suite with branch coverage
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --cov --cov-report=term $(PYTEST_ARGS)
