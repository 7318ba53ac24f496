"""Bench: how long `oci-promote` takes from launch to its first request, and where it goes.

    .venv/bin/python bench/startup.py [--runs 9] [--python .venv/bin/python]

A loopback HTTP listener in this process records when the first request of a run arrives
(`time.perf_counter()`, the same clock as the launch), answers every request 404 and lets
the command end. Two commands: `copy` (registry to registry, the settings models and the
engine loaded) and `digest` (the smallest path). `--help` is timed to its exit. Then
`python -X importtime` of the same `copy`: the sum of the top-level imports' cumulative
times, and pydantic's share of it. Medians of `--runs`. Figures are noisy on a shared
machine; compare runs made one after another.
"""

from __future__ import annotations

import argparse
import http.server
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class _Listener(http.server.ThreadingHTTPServer):
    first: float | None = None


class _Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        server = self.server
        assert isinstance(server, _Listener)
        if server.first is None:
            server.first = time.perf_counter()
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


def first_request(python: str, args: list[str], listener: _Listener) -> float:
    """Seconds from launch to the first request's arrival."""
    listener.first = None
    start = time.perf_counter()
    subprocess.run([python, "-m", "oci_promote.cli.main", *args], capture_output=True, check=False)
    assert listener.first is not None, f"no request from {args}"
    return listener.first - start


def wall(python: str, args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-m", "oci_promote.cli.main", *args], capture_output=True, check=True)
    return time.perf_counter() - start


def import_times(python: str, args: list[str]) -> tuple[float, float]:
    """(all imports, pydantic's) in seconds, from `-X importtime` (top-level cumulative sums)."""
    done = subprocess.run(
        [python, "-X", "importtime", "-m", "oci_promote.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    total = pydantic = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        if name.startswith(" ") and not name.startswith("  "):  # top level: one space
            total += int(cumulative)
            if name.strip().split(".")[0] in ("pydantic", "pydantic_core", "pydantic_settings"):
                pydantic += int(cumulative)
    return total / 1e6, pydantic / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    opts = parser.parse_args()
    listener = _Listener(("127.0.0.1", 0), _Handler)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{listener.server_address[1]}"
    copy = ["copy", "--retries", "0", f"{host}/bench/a:1", f"{host}/bench/b:1"]
    digest = ["digest", "--retries", "0", f"{host}/bench/a:1"]
    first_request(opts.python, copy, listener)  # warm the page cache and .pyc files
    figures = {
        "copy: launch to first request": [
            first_request(opts.python, copy, listener) for _ in range(opts.runs)
        ],
        "digest: launch to first request": [
            first_request(opts.python, digest, listener) for _ in range(opts.runs)
        ],
        "--help: launch to exit": [wall(opts.python, ["--help"]) for _ in range(opts.runs)],
    }
    imports = [import_times(opts.python, copy) for _ in range(opts.runs)]
    figures["copy: -X importtime, all imports"] = [t for t, _ in imports]
    figures["copy: -X importtime, pydantic*"] = [p for _, p in imports]
    listener.shutdown()
    for name, values in figures.items():
        print(
            f"- {name}: median {statistics.median(values) * 1000:.0f} ms "
            f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, n={len(values)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
