#!/usr/bin/env bash
# Set up, start two local registries, load a real third-party image into one,
# promote it to the other and print the pinned reference.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --peers-optional  # the demo itself needs no Go peer
exec .venv/bin/python scripts/demo.py "$@"
