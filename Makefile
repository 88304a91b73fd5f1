# The front door; the real work is in scripts/ (the same scripts CI runs from .ci/run).
.DEFAULT_GOAL := help
PORT ?= 2024
.PHONY: help dev test check services sync

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

sync: ## install the locked dependencies into .venv
	uv sync --frozen

dev: ## serve the example app (examples/langgraph.json) on http://127.0.0.1:2024 (PORT=N to change)
	uv run --frozen langopen dev --config examples/langgraph.json --port $(PORT)

test: services ## run the tests (starts the machine's PostgreSQL and Redis first)
	scripts/test

check: ## formatting, lint, types and import contracts
	scripts/check

services: ## start the machine's PostgreSQL and Redis for the tests
	scripts/services
