"""Bench: how long `oci-promote` takes from launch to its first request, and where it goes.

    .venv/bin/python bench/startup.py [--runs 9] [--before DIR]

`--before DIR` also times an older `src/` (e.g. `git archive d754639 src | tar -x -C DIR`),
put first on PYTHONPATH, run by run in turn with this checkout's, so both see the same load.

A loopback HTTP listener in this process records when the first request of a run arrives
(`time.perf_counter()`, the same clock as the launch; each run names its own repository,
so a late request of an earlier run is not counted), answers every request 404 and lets
the command end. The CPU time (user + system, from `getrusage`) of each `copy` run is
less sensitive to a busy machine than its wall time. Two commands: `copy` (registry to
registry: the settings models and the engine loaded) and `digest` (a smaller path).
`--help` is timed to its exit. Then `python -X importtime` of the same `copy`: the sum of
the top-level imports' cumulative times, and the settings models' share of it (importing
`oci_promote.frontend.settings`: pydantic, pydantic-settings, the models). Medians of
`--runs`. Figures are noisy on a shared
machine; compare runs made one after another.
"""

from __future__ import annotations

import argparse
import http.server
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class _Listener(http.server.ThreadingHTTPServer):
    #: The first arrival time of each run's token (a path segment only that run uses): a
    #: late request of an earlier run, still in the backlog, is not taken for this run's.
    arrivals: dict[str, float]


class _Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        now = time.perf_counter()
        server = self.server
        assert isinstance(server, _Listener)
        for segment in self.path.split("/"):
            server.arrivals.setdefault(segment, now)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


def _env(src: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCI_PROMOTE_")}
    if src:
        env["PYTHONPATH"] = src
    return env


def first_request(python: str, src: str | None, args: list[str], listener: _Listener) -> tuple[float, float]:
    """Seconds from launch to the first request's arrival, and the run's CPU seconds (user + system).

    `args` holds `{token}` where the repository name goes; each run gets its own token.
    """
    token = f"run{uuid.uuid4().hex}"
    command = [python, "-m", "oci_promote.cli.main", *(a.replace("{token}", token) for a in args)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, check=False, env=_env(src))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert token in listener.arrivals, f"no request from {command}"
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return listener.arrivals[token] - start, cpu


def wall(python: str, src: str | None, args: list[str]) -> float:
    command = [python, "-m", "oci_promote.cli.main", *args]
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True, env=_env(src))
    return time.perf_counter() - start


def instructions(python: str, src: str | None, args: list[str]) -> float:
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


def import_times(python: str, src: str | None, args: list[str]) -> tuple[float, float]:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--before", metavar="DIR", help="an older checkout's src/ to time in turn")
    parser.add_argument("--callgrind", action="store_true", help="also count instructions (valgrind)")
    opts = parser.parse_args()
    listener = _Listener(("127.0.0.1", 0), _Handler)
    listener.arrivals = {}
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{listener.server_address[1]}"
    copy = ["copy", "--retries", "0", f"{host}/{{token}}/a:1", f"{host}/{{token}}/b:1"]
    digest = ["digest", "--retries", "0", f"{host}/{{token}}/a:1"]
    trees = {
        "after (this checkout)": None,
        **({f"before ({opts.before})": opts.before} if opts.before else {}),
    }
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in trees}

    def add(tree: str, name: str, value: float) -> None:
        figures[tree].setdefault(name, []).append(value)

    for src in trees.values():
        # Every tree compiled beforehand, as an installed package is: with PYTHONDONTWRITEBYTECODE
        # set (as here) a tree without .pyc files would compile itself on every run.
        subprocess.run([opts.python, "-m", "compileall", "-q", src or str(ROOT / "src")], check=True)
        first_request(opts.python, src, copy, listener)  # warm the page cache
    for _ in range(opts.runs):
        for tree, src in trees.items():
            first, cpu = first_request(opts.python, src, copy, listener)
            add(tree, "copy: launch to first request", first)
            add(tree, "copy: CPU time of the whole run (user + system)", cpu)
            add(tree, "digest: launch to first request", first_request(opts.python, src, digest, listener)[0])
            add(tree, "--help: launch to exit", wall(opts.python, src, ["--help"]))
            total, pydantic = import_times(opts.python, src, [a.replace("{token}", "i") for a in copy])
            add(tree, "copy: -X importtime, all imports", total)
            add(tree, "copy: -X importtime, the settings models (pydantic, pydantic-settings)", pydantic)
    if opts.callgrind:
        for tree, src in trees.items():
            token = [a.replace("{token}", "callgrind") for a in copy]
            figures[tree]["copy: instructions, whole run (millions; not ms)"] = [
                instructions(opts.python, src, token) / 1e9
            ]
            figures[tree]["--help: instructions (millions; not ms)"] = [
                instructions(opts.python, src, ["--help"]) / 1e9
            ]
    listener.shutdown()
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
