#!/usr/bin/env bash
# Set up, start two local registries, load a real third-party image into one,
# promote it to the other and print the pinned reference.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --demo  # only what the demo runs: no Go peer, no test tool
exec .venv/bin/python scripts/demo.py "$@"
