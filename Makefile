# The front door; the real work is in scripts/ (the same scripts CI runs from .ci/run).
.DEFAULT_GOAL := help
PORT ?= 2024
# uv installed by pip lands in the scripts folder of the Python that ran pip: put it on PATH.
export PATH := $(shell python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$(PATH)
export UV_PYTHON_DOWNLOADS := never
.PHONY: help dev test check services sync uv

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

uv: ## install uv (from PyPI) if it is missing
	@command -v uv >/dev/null || python3 -m pip install --quiet --disable-pip-version-check uv

sync: uv ## install the locked dependencies into .venv
	uv sync --frozen

dev: sync ## serve the example app (examples/langgraph.json) on http://127.0.0.1:2024 (PORT=N to change)
	uv run --frozen langopen dev --config examples/langgraph.json --port $(PORT)

test: sync services ## run the tests (starts the machine's PostgreSQL and Redis first)
	scripts/test

check: sync ## formatting, lint, types and import contracts
	scripts/check

services: ## start the machine's PostgreSQL and Redis for the tests
	scripts/services
