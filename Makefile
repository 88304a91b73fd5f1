# The front door; the real work is in scripts/ (the same scripts CI runs from .ci/run).
.DEFAULT_GOAL := help
PORT ?= 2024
# uv installed by pip lands in the scripts folder of the Python that ran pip: put it on PATH.
export PATH := $(shell python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$(PATH)
export UV_PYTHON_DOWNLOADS := never
.PHONY: help dev test test-k8s k8s check services sync uv

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

uv: ## install uv (from PyPI) if it is missing
	@command -v uv >/dev/null || python3 -m pip install --quiet --disable-pip-version-check uv

sync: uv ## install the locked dependencies into .venv
	uv sync --frozen

dev: sync ## serve the example app (examples/langgraph.json) on http://127.0.0.1:2024 (PORT=N to change)
	uv run --frozen langopen dev --config examples/langgraph.json --port $(PORT)

test: sync services k8s ## run the tests, the cluster tier included (starts PostgreSQL and Redis first)
	scripts/test

test-k8s: sync services ## run only the cluster tier (tests/k8s: kube-apiserver 1.20, Helm, buildah, gVisor)
	scripts/test-k8s

k8s: ## build/cache the test cluster's control plane and tools (minutes once, then a no-op)
	scripts/k8s-control-plane
	scripts/k8s-tools
	scripts/k8s-image-base

check: sync ## formatting, lint, types and import contracts
	scripts/check

services: ## start the machine's PostgreSQL and Redis for the tests
	scripts/services
