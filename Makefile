# itline: the two commands of the quick start are `make run` and `make test`.
# Everything else here is a helper for developers. Needs only Python >= 3.12 and make;
# uv is installed on first use if it is missing.

SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
export ITLINE_EMBEDDED := true

.PHONY: run test install uv lint typecheck format check-migrations bench bench-operation bench-transition bench-events clean help

help:
	@echo "make run    install, create the SQLite database under var/, load the demo, start itline"
	@echo "make test   install and run the whole test suite (SQLite; DATABASE_URL=postgres://... for PostgreSQL)"
	@echo "make bench  run the impact benchmark (benchmarks/README.md)"
	@echo "make bench-operation  queue pages, incident API and SLA breach scan on 1,000,000 incidents"
	@echo "make bench-transition collision check, risk and calendar month with 10,000 changes"
	@echo "make bench-events     event ingestion vs Prometheus Alertmanager (SQLite; BENCH_ARGS=--postgres)"
	@echo "                      (BENCH_ARGS=\"--incidents 50000\" for a quick run; DATABASE_URL=postgres://... adds PostgreSQL)"
	@echo "make lint | typecheck | format | check-migrations | clean"

uv:
	@$(UV) --version >/dev/null 2>&1 || { \
	  echo "Installing uv (the Python package manager itline uses) for this user..."; \
	  python3 -m pip install --user --quiet uv 2>/dev/null \
	  || python3 -m pip install --user --quiet --break-system-packages uv 2>/dev/null \
	  || python3 -m pip install --quiet uv 2>/dev/null \
	  || { echo "Could not install uv with pip. Install it (e.g. 'apt install python3-pip' then retry, or see uv's installation guide) and run make again."; exit 1; }; }

install: uv
	@$(UV) sync --frozen --quiet

run: install
	@$(UV) run --frozen itline migrate --noinput -v0
	@$(UV) run --frozen itline demo --if-empty
	@$(UV) run --frozen itline serve

test: install
	@$(UV) run --frozen pytest $(PYTEST_ARGS)

lint: install
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .

format: install
	@$(UV) run --frozen ruff format .
	@$(UV) run --frozen ruff check --fix .

typecheck: install
	@DEBUG=true $(UV) run --frozen mypy

check-migrations: install
	@DEBUG=true $(UV) run --frozen itline makemigrations --check --dry-run

bench: install
	@$(UV) run --frozen python -m benchmarks.impact $(BENCH_ARGS)

bench-operation: install
	@$(UV) run --frozen python -m benchmarks.operation $(BENCH_ARGS)

bench-events: install
	@$(UV) run --frozen python -m benchmarks.events $(BENCH_ARGS)

bench-transition: install
	@$(UV) run --frozen python -m benchmarks.transition $(BENCH_ARGS)

clean:
	rm -rf .venv var test-results .pytest_cache .mypy_cache .ruff_cache
