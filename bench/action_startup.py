"""Bench: what the Action costs before the promotion, beside the promotion itself.

    .venv/bin/python bench/action_startup.py                 # writes bench/results-action.md
    .venv/bin/python bench/action_startup.py --runs 3 --ref bb847c4   # also an older action

action.yml is run by the tests' emulator (testkit/action_runner.py), which runs each step as
the runner does and times it. Scenarios, each `--runs` times, medians reported:

- first job: a fresh RUNNER_TEMP, PIP_NO_CACHE_DIR=1, no PIP_FIND_LINKS, no uv on PATH
  (the runner's pip installs the lock from PyPI); actions/cache misses.
- first job, uv on PATH: the same with uv beside the runner's Python.
- later job: a fresh RUNNER_TEMP; actions/cache restores the environment the first job
  saved (here: a tar archive extracted to the same path, no download; on GitHub the
  restore also downloads the archive, ~5 MB compressed).
- same job: a second use, the environment already there.

"Set-up" is every step before the promotion (setup, restore, install); "promotion" is
the step that copies (a small OCI layout to an empty local registry: the interpreter, the
imports and a handful of requests). Set-up targets (issue 12): first job <= 4 s, later job
<= 1 s. Needs docker-registry and the test extras in .venv; PyPI reachable.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testkit.action_runner import ActionRun, ActionRunner, DirectoryCache  # noqa: E402
from testkit.make_layout import make_layout  # noqa: E402
from testkit.registry import start_registry  # noqa: E402

SETUP_STEPS = ("setup", "restore", "install")
TARGETS = {"first job": 4.0, "later job": 1.0}
UV = Path(sys.executable).parent / "uv"


#: A directory holding `python3`, the runner's Python, put first on PATH (main() fills it).
PYTHON_DIR: list[str] = []


def _path_without_uv() -> str:
    dirs = os.environ.get("PATH", os.defpath).split(os.pathsep)
    return os.pathsep.join(PYTHON_DIR + [d for d in dirs if not (Path(d) / "uv").exists()])


def _runner_python(python: str, into: Path) -> str:
    """`python3` as a runner has it: the interpreter itself, not a pyenv shim (a shell
    script that costs ~0.1 s per call, which a runner's Python does not)."""
    real = subprocess.run(
        [python, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    into.mkdir(parents=True)
    (into / "python3").symlink_to(real)
    PYTHON_DIR[:] = [str(into)]
    return real


class Bench:
    def __init__(self, work: Path, action_path: Path) -> None:
        self.work = work
        self.action_path = action_path
        self.layout = work / "layout"
        make_layout(self.layout, "v1")
        self.registry = start_registry(work / "registry")
        self.count = 0

    def close(self) -> None:
        self.registry.stop()

    def run(self, runner_temp: Path, cache: DirectoryCache | None, path: str) -> ActionRun:
        self.count += 1
        runner = ActionRunner(runner_temp, self.work / f"use-{self.count}", self.action_path, cache=cache)
        env = {"PIP_NO_CACHE_DIR": "1", "PATH": path}
        if "PIP_CERT" in os.environ:  # this machine's TLS interception; uv reads SSL_CERT_FILE
            env["SSL_CERT_FILE"] = os.environ["PIP_CERT"]
        run = runner.run(
            {
                "source": f"oci:{self.layout}:v1",
                "destinations": self.registry.ref("bench/app", f"t{self.count}"),
            },
            env=env,
            drop_env=("PIP_FIND_LINKS", "PIP_CACHE_DIR", "UV_CACHE_DIR"),
        )
        if run.returncode != 0:
            raise SystemExit(f"the action failed:\n{run.stdout}\n{run.stderr}")
        return run

    def fresh(self) -> Path:
        temp = self.work / "runner-temp"  # one path, as on a hosted runner; emptied per job
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir()
        return temp


def _measure(bench: Bench, runs: int, with_uv: bool) -> dict[str, list[ActionRun]]:
    results: dict[str, list[ActionRun]] = {"first job": [], "later job": [], "same job": []}
    if with_uv:
        results["first job, uv on PATH"] = []
        uv_dir = bench.work / "uv-bin"
        uv_dir.mkdir(exist_ok=True)
        if not (uv_dir / "uv").exists():
            (uv_dir / "uv").symlink_to(UV)
        uv_path = os.pathsep.join([str(uv_dir), _path_without_uv()])
    path = _path_without_uv()
    for i in range(runs):
        cache = DirectoryCache(bench.work / f"cache-{i}")
        results["first job"].append(bench.run(bench.fresh(), cache, path))
        results["later job"].append(bench.run(bench.fresh(), cache, path))
        results["same job"].append(bench.run(bench.work / "runner-temp", cache, path))
        if with_uv:
            results["first job, uv on PATH"].append(bench.run(bench.fresh(), None, uv_path))
        print(f"run {i + 1}/{runs}: " + ", ".join(f"{k} {_setup(v[-1]):.2f} s" for k, v in results.items()))
    return results


def _setup(run: ActionRun) -> float:
    return sum(run.step_seconds.get(step, 0.0) for step in SETUP_STEPS)


def _stat(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def _table(title: str, results: dict[str, list[ActionRun]]) -> list[str]:
    lines = [
        f"### {title}",
        "",
        "| Scenario | Set-up (median, min-max) | Promotion | Target | |",
        "|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        if not runs:
            continue
        setup = [_setup(r) for r in runs]
        promote = [r.step_seconds["promote"] for r in runs]
        target = TARGETS.get(name.split(",")[0]) if name != "first job, uv on PATH" else TARGETS["first job"]
        met = "" if target is None else ("MET" if statistics.median(setup) <= target else "MISSED")
        shown = "" if target is None else f"≤ {target:.0f} s"
        lines.append(f"| {name} | {_stat(setup)} | {_stat(promote)} | {shown} | {met} |")
    steps = sorted({s for runs in results.values() for r in runs for s in r.step_seconds}, key=_step_order)
    lines += ["", "Per step (median seconds):", "", "| Scenario | " + " | ".join(steps) + " |"]
    lines.append("|---|" + "---|" * len(steps))
    for name, runs in results.items():
        cells = []
        for step in steps:
            values = [r.step_seconds[step] for r in runs if step in r.step_seconds]
            cells.append(f"{statistics.median(values):.2f}" if values else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _step_order(step: str) -> int:
    order = ["setup", "restore", "install", "promote", "save"]
    return order.index(step) if step in order else len(order)


def _checkout(ref: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ref", help="also measure the action at this git ref (first job only)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-action.md")
    parser.add_argument("--python", default="python3", help="the runner's python3 (default: the one on PATH)")
    args = parser.parse_args(argv)

    started, load_start = time.strftime("%Y-%m-%d %H:%M"), _load()
    command = " ".join(["bench/action_startup.py", *(sys.argv[1:] if argv is None else argv)])
    sections: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-action-") as tmp:
        python_exe = _runner_python(args.python, Path(tmp) / "python-bin")
        python = subprocess.run(
            [python_exe, "-VV"], capture_output=True, text=True, check=False
        ).stdout.strip()
        pip = subprocess.run(
            [python_exe, "-m", "pip", "-V"], capture_output=True, text=True, check=False
        ).stdout
        measures: list[tuple[str, Callable[[Bench], dict[str, list[ActionRun]]], Path]] = []
        measures.append(("this checkout", lambda b: _measure(b, args.runs, UV.exists()), ROOT))
        if args.ref:
            old = _checkout(args.ref, Path(tmp) / "old")
            measures.append(
                (f"action at {args.ref}", lambda b: {"first job": _first_only(b, args.runs)}, old)
            )
        for title, measure, action_path in measures:
            bench = Bench(Path(tmp) / title.replace(" ", "-"), action_path)
            try:
                sections += _table(title, measure(bench))
            finally:
                bench.close()

    header = [
        "# Action start-up: set-up before the promotion, and the promotion",
        "",
        f"Run {started}, {args.runs} runs per scenario: `{command}`.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load_start} at start,"
        f" {_load()} at end. Runner Python: `{python_exe}`, {python}; {pip.split(' from ')[0]}.",
        "PyPI over this machine's network (a TLS-intercepting proxy); a hosted runner is closer to PyPI.",
        "",
    ]
    text = "\n".join(header + sections)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


def _first_only(bench: Bench, runs: int) -> list[ActionRun]:
    return [bench.run(bench.fresh(), None, _path_without_uv()) for _ in range(runs)]


if __name__ == "__main__":
    sys.exit(main())
