# The platform's everyday commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
# The stack's Kafka mode (infra/lib.sh): CAREPLAN_KAFKA_BROKERS=3 is the three-node cluster.
KAFKA_HOME := .local/$(if $(filter-out 1,$(or $(CAREPLAN_KAFKA_BROKERS),1)),kafka-cluster,kafka)

.PHONY: help install stack-up stack-down stack-reset stack-status topics demo test test-unit \
        test-handlers test-integration test-e2e test-faults test-cluster-faults test-cluster-faults-ci \
        lint typecheck ci asyncapi \
        asyncapi-validate schemas screenshot

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(PY):
	python3.11 -m venv $(VENV)

install: $(PY) ## Install the project and its pinned dependencies into .venv
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'

stack-up: ## Start the local Kafka and PostgreSQL (no Docker needed)
	infra/stack.sh up

stack-down: ## Stop them; data is kept
	infra/stack.sh down

stack-reset: ## Stop them and delete their data
	infra/stack.sh reset

stack-status: ## Show what is running
	infra/stack.sh status

topics: stack-up ## Create every topic with its partition count (as the stack's administrator)
	CAREPLAN_KAFKA_USERNAME=admin \
	CAREPLAN_KAFKA_PASSWORD="$$(sed -n 's/^CAREPLAN_KAFKA_ADMIN_PASSWORD=//p' $(KAFKA_HOME)/credentials.env)" \
	$(VENV)/bin/careplan topics

demo: install stack-up ## Run the services on the local stack, fed a realistic stream
	$(PY) -m simulation.demo

test: install stack-up ## Run every test against the real Kafka and PostgreSQL
	$(PYTEST)

test-unit: install ## Pure domain rules only
	$(PYTEST) tests/unit

test-handlers: install stack-up ## Each service's batch handlers on a real database, no broker
	$(PYTEST) tests/handlers

test-integration: install stack-up ## Each runtime piece against the real infrastructure
	$(PYTEST) tests/integration tests/contract

test-e2e: install stack-up ## The services as separate processes
	$(PYTEST) tests/e2e

test-faults: install stack-up ## The fault-injection suite: kills, restarts, duplicates, then the books
	$(PYTEST) -m faults -s

# The same suite on the three-node cluster with TLS (CAREPLAN_KAFKA_BROKERS=3, its own ports and
# storage beside the single node): the TLS tests, then brokers and the controller lost mid-stream.
CLUSTER := CAREPLAN_KAFKA_BROKERS=3
test-cluster-faults: install ## The fault suite on the three-node cluster: broker losses, TLS, then the books
	$(CLUSTER) infra/stack.sh up
	$(CLUSTER) $(PYTEST) tests/integration/test_tls.py
	$(CLUSTER) $(PYTEST) -m faults -s tests/faults

# CI's shortened cluster run: fewer cases and journeys, every cluster fault still.
test-cluster-faults-ci: export CAREPLAN_FAULT_CASES ?= 300
test-cluster-faults-ci: export CAREPLAN_FAULT_REORDER_JOURNEYS ?= 5
test-cluster-faults-ci: export CAREPLAN_FAULT_WAITING_GRACE ?= 30
test-cluster-faults-ci: test-cluster-faults ## The cluster fault run, shortened for CI

lint: install ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install ## mypy, strict
	$(VENV)/bin/mypy .

screenshot: install stack-up ## Rewrite docs/dashboard.png from the dashboard's browser tests
	CAREPLAN_DASHBOARD_SCREENSHOT=$(CURDIR)/docs/dashboard.png $(PYTEST) tests/e2e/test_dashboard.py

asyncapi: install ## Regenerate docs/asyncapi/ from the services' code
	$(VENV)/bin/careplan asyncapi

ASYNCAPI_CLI := tools/asyncapi/node_modules/.bin/asyncapi
$(ASYNCAPI_CLI): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	npm ci --prefix tools/asyncapi --no-audit --no-fund --loglevel=error
	touch $@

asyncapi-validate: $(ASYNCAPI_CLI) ## Validate every AsyncAPI document with the official CLI (pinned)
	@for doc in docs/asyncapi/*.json; do \
		$(ASYNCAPI_CLI) validate "$$doc" --fail-severity=warn || exit 1; \
	done

schemas: install ## Regenerate contracts/json_schemas/ (only for additive changes)
	$(VENV)/bin/careplan schemas

.PHONY: bench
bench: install stack-up ## Benchmark on the local stack, rewrite docs/benchmarks.md (BENCH_ARGS=--quick: a check)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,bench]'
	$(PY) -m bench $(BENCH_ARGS)

ci: lint typecheck asyncapi-validate test test-faults test-cluster-faults-ci ## What CI runs
