# auxstream developer tasks. `make help` lists them; every tool runs from .venv as `python -m ...`.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp
KAFKA := scripts/kafka.sh
PYTEST_ARGS ?=

.PHONY: help venv native test test-unit test-integration lint fmt kafka-jars kafka-up kafka-down \
        kafka-status prometheus demo bench-core reliability soak clean distclean

help: ## List the targets, one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-17s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The stamp is newer than pyproject.toml once the install succeeded, so the venv is only
# rebuilt when the dependencies change. The lock keeps two makes in one checkout from
# installing into the same .venv at once.
$(STAMP): pyproject.toml
	@mkdir -p .cache
	flock .cache/venv.lock sh -c '\
	  $(PYTHON) -m venv $(VENV) && \
	  $(PY) -m pip install --quiet --upgrade pip && \
	  $(PY) -m pip install --quiet -e ".[dev]" && \
	  touch $@'

venv: $(STAMP) ## Create .venv and install auxstream with its dev tools (only when pyproject.toml changed)

# The core compiled with mypyc into auxstream/_native/ (see auxstream/_native.py): a no-op when
# the build matches the sources (SHA-256 of each), a warning and pure Python when it fails.
# AUXSTREAM_PURE=1 keeps the import of auxstream itself from warning about the old build.
native: venv ## Compile the core with mypyc (auxstream/_native/; pure Python if it cannot)
	@mkdir -p .cache
	AUXSTREAM_PURE=1 flock .cache/native.lock $(PY) -m auxstream._build_native

test: venv native kafka-jars prometheus ## Run all tests but the slow ones (integration tests start their own Kafka on 127.0.0.1)
	$(PY) -m pytest -q -m "not slow" tests $(PYTEST_ARGS)

# pytest exits 5 when it collects nothing; an empty unit folder is not a failure.
test-unit: venv native ## Run the unit tests only (no broker)
	$(PY) -m pytest -q tests/unit $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] && echo "no unit tests yet"; [ $$rc -eq 5 ]; }

test-integration: venv kafka-jars prometheus ## Run the integration tests only (starts a private broker)
	$(PY) -m pytest -q tests/integration $(PYTEST_ARGS)

lint: venv ## ruff check, ruff format --check and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy auxstream

fmt: venv ## Format the code and apply ruff's safe fixes
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

kafka-jars: ## Fetch Apache Kafka's jars from Maven Central into .cache/kafka/libs (cached)
	$(KAFKA) jars

kafka-up: kafka-jars ## Start a local KRaft broker on 127.0.0.1:9092 (no-op if running)
	$(KAFKA) up

kafka-down: ## Stop the local broker started by kafka-up
	$(KAFKA) down

kafka-status: ## Say whether the local broker is running
	$(KAFKA) status

prometheus: ## Install Prometheus and promtool from the Debian package if missing (apt-get)
	scripts/prometheus.sh install

# DEMO_ARGS passes options on, e.g. make demo DEMO_ARGS="--duration 40 --speed 120x".
DEMO_ARGS ?=
demo: venv kafka-up ## Run the whole pipeline on the local broker with a live view (Ctrl-C stops it)
	$(PY) -m auxstream demo --broker kafka://127.0.0.1:$(or $(KAFKA_PORT),9092) $(DEMO_ARGS)

# The table is written even when a test fails (a failed row says so); the exit status is pytest's.
RELIABILITY_RESULTS := .cache/reliability/results.jsonl
reliability: venv kafka-jars ## Run the whole fault suite (tests/reliability, slow ones too) and write docs/reliability.md
	rm -f $(RELIABILITY_RESULTS)
	AUXSTREAM_RELIABILITY_RESULTS=$(RELIABILITY_RESULTS) $(PY) -m pytest -q -m "" tests/reliability $(PYTEST_ARGS); \
	  rc=$$?; $(PY) scripts/reliability_report.py $(RELIABILITY_RESULTS); exit $$rc

# BENCH_ARGS passes options on, e.g. make bench BENCH_ARGS="--quick" or "--at HEAD".
BENCH_ARGS ?=
bench: venv kafka-jars ## Benchmark a worker on a private Kafka broker vs a bare consumer and plain Faust (~15 min)
	$(PY) -m bench.stream $(BENCH_ARGS)

bench-core: venv native ## Benchmark the pure engine (no broker)
	$(PY) -m bench.core

# SOAK_MINUTES shortens the feed (make soak SOAK_MINUTES=6); SOAK_AT=<git ref> runs auxstream/ as
# committed there (exported to /tmp), not the work tree; SOAK_ARGS passes more options.
SOAK_MINUTES ?= 120
SOAK_AT ?=
SOAK_ARGS ?=
soak: venv kafka-jars ## Two hours of a simulated centre at 20x on a private broker: RSS and lag slopes (docs/soak.md)
	$(PY) -m bench.soak --minutes $(SOAK_MINUTES) $(if $(SOAK_AT),--at $(SOAK_AT)) $(SOAK_ARGS)

clean: ## Stop the local broker; remove its data, caches and build output (keeps .venv and jars)
	-$(KAFKA) down
	-for dir in .kafka/test/*/; do [ -d "$$dir" ] && KAFKA_DIR="$$dir" $(KAFKA) down; done
	rm -rf .kafka .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info out auxstream/_native
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean ## clean, and also remove .venv and the fetched Kafka jars
	rm -rf $(VENV) .cache
