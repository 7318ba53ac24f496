"""Bench: how long `oci-promote` takes from launch to its first request, and where it goes.

    .venv/bin/python bench/startup.py [--runs 9] [--before DIR] [--peers] [--python PY]

`--before DIR` also times an older `src/` (e.g. `git archive d754639 src | tar -x -C DIR`);
each tree is put first on PYTHONPATH (this checkout's `src/` too, so a copy installed in
`--python`'s venv is never the one timed), and the trees take turns run by run, so both see
the same load. `--python` is best a venv with the runtime dependencies alone
(`pip install .`, as bench/run.py makes): a development venv has more installed, and
some of it (click) is imported by httpx when present. `--peers` also runs crane, regctl,
oras and skopeo's `copy` in the same rounds, each round in another order.

Every run gets its own loopback HTTP listener, which notes with `time.perf_counter()`
(the clock of the launch) when it accepts the run's first connection and when the first
request arrives, and answers every request 404, so the command ends at once. The first
connection is the start-up figure the full bench reports (`bench/report.py`, launch to
the first connection at a relay); the first request is one round trip later. The CPU time
(user + system, `getrusage`) of each run is less sensitive to a busy machine than its
wall time. `--help` is timed to its exit. Then `python -X importtime` of the same `copy`:
the sum of the top-level imports' cumulative times, and the settings models' share
(pydantic, pydantic-settings, the models). Medians of `--runs`; the load average is
printed at the start and the end.
"""

from __future__ import annotations

import argparse
import http.server
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import loadavg  # noqa: E402
from testkit.peers import peer_binary, peer_env  # noqa: E402

GO_PEERS = ("crane", "regctl", "oras")


class _Listener(http.server.ThreadingHTTPServer):
    """One run's registry stand-in: when it accepted the first connection and read the first request."""

    first_connection: float | None = None
    first_request: float | None = None

    def get_request(self) -> tuple[socket.socket, object]:
        accepted = super().get_request()
        if self.first_connection is None:
            self.first_connection = time.perf_counter()
        return accepted


class _Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        server = self.server
        assert isinstance(server, _Listener)
        if server.first_request is None:
            server.first_request = time.perf_counter()
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


def _env(src: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCI_PROMOTE_")}
    env["PYTHONPATH"] = src
    return env


#: A tool's command for one run, given the listener's HOST:PORT.
Command = Callable[[str], list[str]]


def contact(command: Command, env: dict[str, str]) -> tuple[float, float, float]:
    """Seconds from launch to the first connection and to the first request, and the run's CPU seconds."""
    listener = _Listener(("127.0.0.1", 0), _Handler)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    try:
        argv = command(f"127.0.0.1:{listener.server_address[1]}")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False, env=env, timeout=60)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        listener.shutdown()
        listener.server_close()
    assert listener.first_connection is not None and listener.first_request is not None, f"no request: {argv}"
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return listener.first_connection - start, listener.first_request - start, cpu


def wall(python: str, src: str, args: list[str]) -> float:
    command = [python, "-m", "oci_promote.cli.main", *args]
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True, env=_env(src))
    return time.perf_counter() - start


def instructions(python: str, src: str, args: list[str]) -> float:
    """Instructions the whole run executes (callgrind's Ir): the same on a busy machine as on
    an idle one, unlike any time. Slow (about 50x), so run once per tree."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python, "-m",
         "oci_promote.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        env=_env(src),
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", done.stderr)
    assert found is not None, done.stderr[-2000:]
    return int(found[1])


def import_times(python: str, src: str, args: list[str]) -> tuple[float, float]:
    """(all imports, the settings models') in seconds, from `-X importtime`: the sum of the
    top-level imports' cumulative times, and the cumulative time of importing
    `oci_promote.frontend.settings` (pydantic, pydantic-settings and the models)."""
    done = subprocess.run(
        [python, "-X", "importtime", "-m", "oci_promote.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        env=_env(src),
    )
    total = pydantic = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        if name.startswith(" ") and not name.startswith("  "):  # top level: one space
            total += int(cumulative)
            if name.strip() in ("oci_promote.frontend.settings", "pydantic", "pydantic_settings"):
                pydantic += int(cumulative)
    return total / 1e6, pydantic / 1e6


def peer_commands() -> dict[str, Command]:
    """Each Go peer's (and skopeo's) copy between two repositories of a plain-HTTP loopback
    registry, as bench/tools.py runs them."""
    crane, regctl, oras = (str(peer_binary(name)) for name in GO_PEERS)
    return {
        "crane": lambda h: [crane, "copy", "--insecure", f"{h}/r/a:1", f"{h}/r/b:1"],
        "regctl": lambda h: [
            regctl, "--host", f"reg={h},tls=disabled", "image", "copy", f"{h}/r/a:1", f"{h}/r/b:1"
        ],
        "oras": lambda h: [oras, "cp", "--from-plain-http", "--to-plain-http", f"{h}/r/a:1", f"{h}/r/b:1"],
        "skopeo": lambda h: [
            "skopeo", "copy", "--insecure-policy", "--src-tls-verify=false", "--dest-tls-verify=false",
            f"docker://{h}/r/a:1", f"docker://{h}/r/b:1",
        ],
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--before", metavar="DIR", help="an older checkout's src/ to time in turn")
    parser.add_argument("--peers", action="store_true", help="also time the Go peers' and skopeo's copy")
    parser.add_argument("--callgrind", action="store_true", help="also count instructions (valgrind)")
    opts = parser.parse_args()
    print(f"load average at the start: {loadavg()}")
    python = opts.python

    def ours(src: str) -> Command:
        # As bench/tools.py runs it: --json, and --plain-http for the registry (no TLS probe first).
        return lambda h: [
            python, "-m", "oci_promote.cli.main", "copy", "--json", "--retries", "0", "--plain-http", h,
            f"{h}/r/a:1", f"{h}/r/b:1",
        ]  # fmt: skip

    def digest(src: str) -> Command:
        return lambda h: [
            python, "-m", "oci_promote.cli.main", "digest", "--retries", "0", "--plain-http", h, f"{h}/r/a:1"
        ]  # fmt: skip

    # importtime and callgrind: a copy whose registry refuses the connection (port 9, nothing there).
    dead_copy = [
        "copy",
        "--json",
        "--retries",
        "0",
        "--plain-http",
        "127.0.0.1:9",
        "127.0.0.1:9/a:1",
        "127.0.0.1:9/b:1",
    ]
    trees = {"after (this checkout)": str(ROOT / "src")}
    if opts.before:
        trees[f"before ({opts.before})"] = opts.before
    peers = peer_commands() if opts.peers else {}
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in [*trees, *peers]}

    def add(tree: str, name: str, value: float) -> None:
        figures[tree].setdefault(name, []).append(value)

    for src in trees.values():
        # Every tree compiled beforehand, as an installed package is: with PYTHONDONTWRITEBYTECODE
        # set (as here) a tree without .pyc files would compile itself on every run.
        subprocess.run([python, "-m", "compileall", "-q", src], check=True)
        contact(ours(src), _env(src))  # warm the page cache
    with tempfile.TemporaryDirectory(prefix="startup-peers-") as sandbox:
        peer_environment = peer_env(Path(sandbox))
        for command in peers.values():
            contact(command, peer_environment)
        for round_ in range(opts.runs):
            # One `copy` launch of each tool, each round starting with the next: the same load for all.
            launches: list[tuple[str, Command, dict[str, str]]] = [
                *((tree, ours(src), _env(src)) for tree, src in trees.items()),
                *((name, command, peer_environment) for name, command in peers.items()),
            ]
            first = round_ % len(launches)
            for name, command, env in launches[first:] + launches[:first]:
                connection, request, cpu = contact(command, env)
                add(name, "copy: launch to first connection", connection)
                add(name, "copy: launch to first request", request)
                add(name, "copy: CPU time of the whole run (user + system)", cpu)
            for tree, src in trees.items():
                add(tree, "digest: launch to first request", contact(digest(src), _env(src))[1])
                add(tree, "--help: launch to exit", wall(python, src, ["--help"]))
                total, pydantic = import_times(python, src, dead_copy)
                add(tree, "copy: -X importtime, all imports", total)
                add(tree, "copy: -X importtime, the settings models (pydantic, pydantic-settings)", pydantic)
    if opts.callgrind:
        for tree, src in trees.items():
            figures[tree]["copy: instructions, whole run (millions; not ms)"] = [
                instructions(python, src, dead_copy) / 1e9
            ]
            figures[tree]["--help: instructions (millions; not ms)"] = [
                instructions(python, src, ["--help"]) / 1e9
            ]
    print(f"load average at the end: {loadavg()}")
    for tree, by_name in figures.items():
        print(f"{tree}:")
        for name, values in by_name.items():
            print(
                f"- {name}: median {statistics.median(values) * 1000:.0f} ms "
                f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, n={len(values)})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
