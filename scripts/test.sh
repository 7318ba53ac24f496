#!/usr/bin/env bash
# The project's test command: lint, types, then every test against real registries.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check src testkit tests bench scripts
.venv/bin/ruff format --check src testkit tests bench scripts
.venv/bin/mypy --strict src
.venv/bin/lint-imports  # the layer contracts in pyproject.toml: imports flow one way, no cycle
.venv/bin/python -m pytest -q "$@"
