"""Benchmark issue 19's release: 30 images in 5 repositories to two registries over a WAN.

Usage: .venv/bin/python bench/release.py [--quick] [--runs N] [--delay MS] [--out FILE]
       [--tools a,b] [--skip-micro]

The tools take turns, round after round (the first tool changes every round), every run into
two new registries; see bench/README.md ("Release") and the modules it names. Writes
bench/results-release.md (results-release-quick.md with --quick).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import loadavg, machine  # noqa: E402
from bench.relay import DelayLine  # noqa: E402
from bench.release_images import Release, build_release  # noqa: E402
from bench.release_measure import Measured, measure, start_source  # noqa: E402
from bench.release_report import report  # noqa: E402
from bench.release_tools import ALL_TOOLS, REGSYNC_PARALLEL, regsync_binary  # noqa: E402
from bench.tools import GNU_TIME, _sandbox, command_output, fingerprint, install_release, skopeo_argv  # noqa: E402
from testkit.registry import RunningRegistry  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def seed(release: Release, registry: RunningRegistry, work: Path) -> None:
    """Every image into the source as staging/REPO:TAG, with skopeo (not a tool under test)."""
    env = _sandbox(work)
    auth = str(work / "auth.json")
    args = ["copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "--dest-authfile", auth]
    for img in release.images:
        argv = skopeo_argv(
            work, [*args, f"oci:{release.layout}:{img.name}", f"docker://{img.source(registry.host)}"]
        )
        subprocess.run(argv, check=True, capture_output=True, env=env)


def rounds(tools: Sequence[str], runs: int) -> list[tuple[int, str]]:
    """(round, tool) in execution order: each round starts one tool later than the last."""
    return [(n, tools[(n + i) % len(tools)]) for n in range(runs) for i in range(len(tools))]


def micro(python: Path) -> tuple[dict[str, Any] | None, str]:
    """The plan micro-benchmark (bench/plan_micro.py --json, in its own process); (figures, error)."""
    argv = [str(python), str(ROOT / "bench" / "plan_micro.py"), "--json"]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600, cwd=ROOT)
    if proc.returncode:
        return None, proc.stderr.strip()[-500:] or f"exit {proc.returncode}"
    figures: dict[str, Any] = json.loads(proc.stdout)
    return figures, ""


def regsync_version() -> str:
    info = command_output(["go", "version", "-m", str(regsync_binary())]).splitlines()
    mod = next((line.split()[1:3] for line in info if line.strip().startswith("mod")), ["?", "?"])
    return f"{mod[0]} {mod[1]} ({info[0].split(': ', 1)[-1] if info else '?'})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small layers, one run each (smoke test)")
    parser.add_argument("--runs", type=int, help="runs per tool (3; 1 with --quick)")
    parser.add_argument("--delay", type=float, default=20.0, help="WAN delay each way, ms (20)")
    parser.add_argument("--tools", help=f"comma-separated subset of {','.join(ALL_TOOLS)}")
    parser.add_argument("--skip-micro", action="store_true", help="leave out the plan micro-benchmark")
    parser.add_argument("--out", type=Path, help="Markdown output")
    args = parser.parse_args(argv)
    for binary in ("skopeo", "docker-registry", "unshare", "go", GNU_TIME, str(regsync_binary())):
        if shutil.which(binary) is None:
            parser.error(f"{binary} not found (regsync: scripts/setup.sh builds it)")
    tools = tuple(args.tools.split(",")) if args.tools else ALL_TOOLS
    if unknown := set(tools) - set(ALL_TOOLS):
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    runs = args.runs or (1 if args.quick else 3)
    out = args.out or ROOT / "bench" / ("results-release-quick.md" if args.quick else "results-release.md")
    started = time.perf_counter()
    results: dict[str, list[Measured]] = {t: [] for t in tools}
    with tempfile.TemporaryDirectory(prefix="oci-promote-bench-release-") as tmp_name:
        tmp = Path(tmp_name)
        venv = tmp / "venv"
        log("installing oci-promote into a fresh venv (pip install .)")
        installed = install_release(venv)
        info = machine(venv, installed)
        info["regsync"] = regsync_version()
        line = DelayLine(args.delay / 1000)
        registry, src_relay = start_source(tmp, line)
        try:
            begun = time.perf_counter()
            release = build_release(tmp / "layout", "quick" if args.quick else "full")
            seed(release, registry, tmp / "seed")
            log(f"built and seeded {len(release.images)} images in {time.perf_counter() - begun:.1f}s")
            for seq, (n, tool) in enumerate(rounds(tools, runs), 1):
                m = measure(tool, release, registry, src_relay, line, tmp, seq, venv)
                results[tool].append(m)
                log(
                    f"round {n + 1}/{runs} {tool}: "
                    + (f"{m.run.wall:.2f}s {m.requests} req" if m.ok else f"FAILED {m.error}")
                    + f", load {m.load_before}"
                )
        finally:
            registry.stop()
            line.close()
        log("plan micro-benchmark")
        plan, plan_error = (
            (None, "not run (--skip-micro)") if args.skip_micro else micro(venv / "bin" / "python")
        )
    info["loadavg at end"] = loadavg()
    if fingerprint(ROOT / "src" / "oci_promote") != installed:
        info["oci-promote"] += " (src/ has changed since; the results are for the installed copy)"
    elapsed = time.perf_counter() - started
    text = report(release, results, info, runs, args.delay, elapsed, plan, plan_error)
    print(text)
    out.write_text(text + "\n")
    log(f"wrote {out} (regsync parallel raised to {REGSYNC_PARALLEL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
