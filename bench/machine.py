"""What a results file records about the run: machine, versions, and the start-up split.

Start-up is measured in the same run as the copies: `oci-promote --help` and each Go peer's
`version` command, and, in the bench venv, the bare interpreter, the mandated dependencies
and the whole CLI, so the Python start-up share is a measured figure, not a guess.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

from bench.tools import GO_PEERS, ROOT, command_output, tool_versions
from testkit.peers import peer_binary

#: Start-up of the interpreter alone, with the mandated dependencies, and with the whole CLI.
IMPORT_PROBES = (
    "pass",
    "import asyncio, httpx",
    "import asyncio, httpx, anyio",
    # cli.py itself imports only the standard library (signals first); the run imports the rest.
    "import oci_promote.cli.run",
)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def startup(argv: list[str]) -> float:
    """Median wall seconds of a command that does no work: process start plus imports."""
    walls = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, env=dict(os.environ))
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def _first(path: str, key: str) -> str:
    lines = Path(path).read_text().splitlines()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(key)), "?")


def machine(venv: Path, fingerprint: str) -> dict[str, str]:
    dirty = command_output(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"])
    versions = tool_versions()
    go_startup = ", ".join(
        f"`{name} version` {startup([str(peer_binary(name)), 'version']):.3f} s" for name in GO_PEERS
    )
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": command_output(["nproc"]),
        "cpu": _first("/proc/cpuinfo", "model name"),
        "memory": _first("/proc/meminfo", "MemTotal"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        **versions,
        "registry": command_output(["docker-registry", "--version"]),
        "oci-promote": f"git {command_output(['git', '-C', str(ROOT), 'rev-parse', '--short', 'HEAD'])}"
        + (" + uncommitted changes in src/" if dirty else "")
        + f"; installed with `pip install .` into a fresh venv (sha256 of *.py: {fingerprint})",
        "start-up (median of 5)": f"`oci-promote --help` "
        f"{startup([str(venv / 'bin' / 'oci-promote'), '--help']):.3f} s, "
        f"`skopeo --version` {startup(['skopeo', '--version']):.3f} s, {go_startup}",
        "where oci-promote's start-up goes (median of 5, the bench venv's python)": "; ".join(
            f"`python -c '{stmt}'` {startup([str(venv / 'bin' / 'python'), '-c', stmt]):.3f} s"
            for stmt in IMPORT_PROBES
        ),
        "loadavg at start": loadavg(),
    }
