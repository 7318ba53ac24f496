"""Where oci-promote's CPU goes on the big LAN layer: one extra, unrecorded copy under py-spy
(`py-spy record --format raw`, the bench extra), its samples grouped by layer, for the
results' "profile where a target is missed"."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.scenarios import Scenario, Source
from testkit.registry import start_registry

#: (label, test on one sample's leaf frame); the first that matches counts it.
LAYERS = (
    ("imports and start-up", lambda stack, leaf: "_find_and_load" in stack or "<module>" in leaf),
    ("sha256 (hashlib, in C)", lambda stack, leaf: "DigestVerifier.update" in leaf or "hashlib" in leaf),
    ("socket send (kernel copy)", lambda stack, leaf: "_SelectorSocketTransport.write" in leaf),
    ("socket receive (kernel copy)", lambda stack, leaf: "_read_ready" in leaf),
    ("waiting in epoll", lambda stack, leaf: "select (selectors.py" in leaf),
    ("h11 (HTTP/1.1 framing, buffer copies)", lambda stack, leaf: "h11/" in leaf),
    ("httpcore", lambda stack, leaf: "httpcore/" in leaf),
    ("httpx", lambda stack, leaf: "httpx/" in leaf),
    ("anyio", lambda stack, leaf: "anyio/" in leaf),
    ("oci_promote", lambda stack, leaf: "oci_promote/" in leaf),
    ("asyncio event loop", lambda stack, leaf: "asyncio/" in leaf),
)


def _py_spy() -> str | None:
    return shutil.which("py-spy") or next(
        (str(p) for p in [Path(sys.executable).parent / "py-spy"] if p.exists()), None
    )


def profile_copy(sc: Scenario, src: Source, tmp: Path, venv: Path) -> list[str]:
    """Markdown: the profile of one copy of `sc` from `src` into a fresh registry."""
    py_spy = _py_spy()
    if py_spy is None:
        return ["(no profile: py-spy is not installed; pip install '.[bench]')", ""]
    dest = start_registry(tmp / "profile-dest")
    raw = tmp / "profile.raw"
    try:
        argv = [
            py_spy, "record", "--format", "raw", "--rate", "250", "--output", str(raw), "--",
            str(venv / "bin" / "oci-promote"), "copy", f"{src.registry.host}/{sc.repo}:{sc.tag}",
            f"{dest.host}/profile/app:v1", "--plain-http", src.registry.host, "--plain-http", dest.host,
        ]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    finally:
        dest.stop()
    if proc.returncode or not raw.exists():
        return [f"(no profile: py-spy exit {proc.returncode}: {proc.stderr.strip()[-200:]})", ""]
    layers: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        leaf = stack.rsplit(";", 1)[-1]
        n = int(count)
        leaves[leaf] += n
        layers[next((label for label, test in LAYERS if test(stack, leaf)), "other")] += n
    total = sum(layers.values()) or 1
    lines = [
        f"py-spy, 250 samples/s of one unrecorded copy of {sc.title} (wall-clock samples of the "
        f"process's threads while not idle, {total} in all), by the layer of the innermost frame:",
        "",
        "| layer | share of samples |",
        "|---|---|",
    ]
    lines += [f"| {label} | {100 * n / total:.1f} % |" for label, n in layers.most_common()]
    lines += ["", "The 12 innermost frames seen most:", "", "| frame | share |", "|---|---|"]
    lines += [f"| `{leaf[:100]}` | {100 * n / total:.1f} % |" for leaf, n in leaves.most_common(12)]
    return [*lines, ""]
