#!/usr/bin/env bash
# The project's test command: lint, types, then every test against real registries.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check src tests bench scripts
.venv/bin/ruff format --check src tests bench scripts
.venv/bin/mypy --strict src
.venv/bin/python -m pytest -q "$@"
