#!/usr/bin/env bash
# One-command benchmark: LangOpen vs the official `langgraph dev` server (see bench/README.md).
# Usage: bench/run.sh [--target official|langopen|both] [--n 200] [--clients 32] [--per-client 20] ...
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench.run_bench "$@"
