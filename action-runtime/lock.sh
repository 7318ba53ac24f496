#!/usr/bin/env bash
# Regenerate action-runtime/requirements.txt, the action's lock, from pyproject.toml's runtime
# dependencies: one universal resolution (markers for every Python from 3.10 up), binary
# wheels only, a sha256 for every file. Run it after changing `dependencies` in
# pyproject.toml (tests/action/test_lock.py fails until you do):
#
#     action-runtime/lock.sh              # keep the current pins where they still fit
#     action-runtime/lock.sh --upgrade    # move every pin to the newest release
#
# uv resolves one lock for all Pythons (pip-compile resolves for the running one only). It
# is installed into .venv (scripts/setup.sh creates it) if missing; it need not be on PATH.
# It then writes action-runtime/links.html, the address of every locked wheel (see
# action-runtime/links.py). The action's own package is not in the lock: action.yml runs it
# from the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=.venv/bin/uv
if [ ! -x "$uv" ]; then
  echo "lock: installing uv into .venv" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check uv >&2
fi
# No interpreter download: any Python resolves for --python-version.
UV_PYTHON_DOWNLOADS=never "$uv" pip compile --quiet pyproject.toml \
  --universal --python-version 3.10 --generate-hashes --only-binary :all: \
  --custom-compile-command action-runtime/lock.sh \
  -o action-runtime/requirements.txt "$@"
.venv/bin/python action-runtime/links.py
