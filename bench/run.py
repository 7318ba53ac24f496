"""Benchmark `oci-promote copy` against `skopeo copy --all --preserve-digests` on this machine.

Usage: .venv/bin/python bench/run.py [--quick]

Everything runs on loopback: synthetic OCI layouts are built in a temp dir, a source
registry is seeded once with skopeo (an independent tool), then each tool copies every
image, alternating A B A B, into a *new* docker-registry process with empty storage per
run. Wall time is perf_counter around the subprocess, peak RSS is GNU time's %M of the
tool's own process, requests come from the destination's access log. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.images import MIB, OCI_INDEX, OCI_MANIFEST, build_layout  # noqa: E402
from tests.harness.registry import (  # noqa: E402
    HARNESS_USER_AGENT,
    AccessEntry,
    RunningRegistry,
    start_registry,
)

VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
GNU_TIME = "/usr/bin/time"
SKOPEO_CACHE_DIR = "/var/lib/containers/cache"  # where skopeo 1.9 keeps its blob-info cache as root
ACCEPT = ", ".join(
    [
        OCI_INDEX,
        OCI_MANIFEST,
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
TOOLS = ("oci-promote", "skopeo")
# Run skopeo in a private mount namespace with an empty dir bound over its root cache dir
# (created first on a machine where skopeo has never run as root).
_FRESH_CACHE = 'mkdir -p "$2" && mount --bind "$1" "$2" && shift 2 && exec "$@"'


# --------------------------------------------------------------------------- running tools


@dataclass
class Proc:
    rc: int
    wall: float
    rss_kib: int
    stdout: str
    stderr: str


def _sandbox(work: Path) -> dict[str, Path]:
    """A fresh, empty config world for one invocation of either tool."""
    paths = {name: work / name for name in ("home", "run", "tmp", "cache", "registries.d", "docker")}
    for p in paths.values():
        p.mkdir(parents=True)
    paths["run"].chmod(0o700)
    (work / "auth.json").write_text('{"auths": {}}')
    (work / "registries.conf").write_text("")
    (work / "policy.json").write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return paths


def _env(work: Path, p: dict[str, Path]) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
    env.update(
        HOME=str(p["home"]),
        XDG_RUNTIME_DIR=str(p["run"]),
        XDG_CONFIG_HOME=str(p["home"] / ".config"),
        XDG_DATA_HOME=str(p["home"] / ".local/share"),
        XDG_CACHE_HOME=str(p["home"] / ".cache"),
        TMPDIR=str(p["tmp"]),
        DOCKER_CONFIG=str(p["docker"]),
        REGISTRY_AUTH_FILE=str(work / "auth.json"),
        CONTAINERS_REGISTRIES_CONF=str(work / "registries.conf"),
        CONTAINERS_CONF=str(work / "containers.conf"),  # absent on purpose: built-in defaults
    )
    return env


def skopeo_argv(work: Path, p: dict[str, Path], args: Sequence[str], rss_file: Path) -> list[str]:
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        _FRESH_CACHE,
        "sh",
        str(p["cache"]),
        SKOPEO_CACHE_DIR,
        GNU_TIME,
        "-f",
        "%M",
        "-o",
        str(rss_file),
        "skopeo",
        "--policy",
        str(work / "policy.json"),
        "--registries.d",
        str(p["registries.d"]),
        *args,
    ]


def install_release(venv: Path) -> str:
    """Install the project as a user would (`pip install .`, no test extras) into its own venv.

    The tool is then measured as it ships, without the editable install's import hook or
    the development extras (httpx imports click and pygments when they are installed).
    Returns the fingerprint of the installed sources.
    """
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(ROOT)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import oci_promote; print(oci_promote.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return _fingerprint(Path(where).parent)


def oci_promote_argv(venv: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    return [str(venv / "bin" / "oci-promote"), *args], {}


def run_tool(tool: str, src: str, dest: str, work: Path, code: Path) -> Proc:
    """One timed copy; `work` must not exist yet (it becomes this invocation's sandbox)."""
    p = _sandbox(work)
    rss_file = work / "rss"
    env = _env(work, p)
    if tool == "oci-promote":
        cli, extra = oci_promote_argv(code, "copy", src, dest, "--json")
        argv = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *cli]
        env |= extra
    else:
        argv = skopeo_argv(
            work,
            p,
            [
                "copy",
                "--all",
                "--preserve-digests",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "--src-authfile",
                str(work / "auth.json"),
                "--dest-authfile",
                str(work / "auth.json"),
                f"docker://{src}",
                f"docker://{dest}",
            ],
            rss_file,
        )
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600, cwd=work, check=False)
    wall = time.perf_counter() - start
    rss = rss_file.read_text().strip().splitlines() if rss_file.exists() else []
    rss_kib = int(rss[-1]) if rss and rss[-1].isdigit() else -1
    return Proc(proc.returncode, wall, rss_kib, proc.stdout, proc.stderr)


# --------------------------------------------------------------------------- checking and counting


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("sys:")]
    return lines[-1][:300] if lines else "(no stderr)"


def verify(reg: RunningRegistry, repo: str, tag: str, digest: str) -> str | None:
    """None if `repo:tag` is exactly `digest` with every child manifest and blob present."""
    headers = {"User-Agent": f"{HARNESS_USER_AGENT} bench-verify", "Accept": ACCEPT}
    with reg.client(headers=headers, timeout=60) as client:
        todo = [(tag, digest)]
        while todo:
            ref, want = todo.pop()
            resp = client.get(f"/v2/{repo}/manifests/{ref}")
            got = "sha256:" + hashlib.sha256(resp.content).hexdigest()
            if resp.status_code != 200 or got != want:
                return f"manifest {ref}: HTTP {resp.status_code}, digest {got[:19]} != {want[:19]}"
            doc = resp.json()
            todo += [(m["digest"], m["digest"]) for m in doc.get("manifests", [])]
            for blob in [doc["config"], *doc["layers"]] if "config" in doc else []:
                head = client.head(f"/v2/{repo}/blobs/{blob['digest']}")
                if head.status_code != 200 or int(head.headers.get("content-length", -1)) != blob["size"]:
                    return f"blob {blob['digest'][:19]}: HTTP {head.status_code}"
    return None


_V2 = re.compile(r"^/v2/(?P<repo>.+?)/(?P<kind>blobs/uploads|blobs|manifests|tags)(?P<rest>/.*)?$")


def pattern(e: AccessEntry) -> str:
    """`METHOD /v2/<repo>/... [?query keys] -> status` with names, digests and ids abstracted."""
    m = _V2.match(e.path)
    if m is None:
        path = e.path
    elif m["kind"] == "blobs/uploads":
        path = "/v2/<repo>/blobs/uploads/" + ("<uuid>" if (m["rest"] or "/").strip("/") else "")
    elif m["kind"] in ("blobs", "manifests"):
        ref = (m["rest"] or "").lstrip("/")
        path = f"/v2/<repo>/{m['kind']}/" + ("<digest>" if ref.startswith("sha256:") else "<tag>")
    else:
        path = f"/v2/<repo>/{m['kind']}{m['rest'] or ''}"
    query = "?" + "&".join(sorted(e.query)) if e.query else ""
    return f"{e.method} {path}{query} -> {e.status}"


def category(e: AccessEntry) -> str:
    if "/blobs/uploads" in e.path or (e.method == "GET" and "/blobs/" in e.path):
        return "blob-transfer"  # an upload step or a GET of blob content
    if "/blobs/" in e.path:
        return "blob-check"  # HEAD (or DELETE) of a blob
    return "manifest" if "/manifests/" in e.path else "other"


def uploaded_bytes(entries: Sequence[AccessEntry], sizes: dict[str, int]) -> int:
    """Bytes of blobs whose upload the registry completed (201 to a request with ?digest=).

    The registry verifies the digest before answering 201, so each such request implies
    the blob's full size crossed the wire (retried or abandoned partial uploads are not seen).
    """
    return sum(
        sizes[e.query["digest"]]
        for e in entries
        if "/blobs/uploads" in e.path and e.status == 201 and "digest" in e.query
    )


# --------------------------------------------------------------------------- the benchmark


@dataclass(frozen=True)
class Image:
    key: str
    title: str
    tag: str
    digest: str
    sizes: dict[str, int]
    runs: int


@dataclass
class Outcome:
    ok: bool
    error: str = ""
    wall: float = 0.0
    rss_kib: int = 0
    uploaded: int = 0
    requests: list[AccessEntry] = field(default_factory=list)
    src_requests: int = 0
    noop_ok: bool = False
    noop_wall: float = 0.0
    noop: list[AccessEntry] = field(default_factory=list)


def blob_sizes(layout: Path) -> dict[str, int]:
    return {f"sha256:{p.name}": p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir()}


def one_run(tool: str, image: Image, src: RunningRegistry, tmp: Path, seq: int, code: Path) -> Outcome:
    """Copy into a brand-new registry, verify, count, then re-run the same copy (no-op)."""
    run_dir = tmp / f"run-{seq:03d}-{image.key}-{tool}"
    dest = start_registry(run_dir / "registry")
    try:
        repo, src_ref = f"promoted/{image.key}", src.ref(f"bench/{image.key}", image.tag)
        mark, src_mark = dest.mark(), src.mark()
        first = run_tool(tool, src_ref, dest.ref(repo, image.tag), run_dir / "copy", code)
        out = Outcome(ok=False, wall=first.wall, rss_kib=first.rss_kib, requests=dest.requests_since(mark))
        out.src_requests = len(src.requests_since(src_mark))
        problem = (
            f"exit {first.rc}: {_last_line(first.stderr)}"
            if first.rc
            else verify(dest, repo, image.tag, image.digest)
        )
        if problem:
            out.error = problem
            return out
        out.ok, out.uploaded = True, uploaded_bytes(out.requests, image.sizes)
        mark = dest.mark()
        again = run_tool(tool, src_ref, dest.ref(repo, image.tag), run_dir / "noop", code)
        out.noop, out.noop_wall = dest.requests_since(mark), again.wall
        out.noop_ok = again.rc == 0 and verify(dest, repo, image.tag, image.digest) is None
        return out
    finally:
        dest.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def seed(src: RunningRegistry, layout: Path, tag: str, repo: str, digest: str, tmp: Path) -> None:
    work = tmp / f"seed-{repo.replace('/', '-')}"
    p = _sandbox(work)
    argv = skopeo_argv(
        work,
        p,
        [
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-authfile",
            str(work / "auth.json"),
            f"oci:{layout}:{tag}",
            f"docker://{src.ref(repo, tag)}",
        ],
        work / "rss",
    )
    subprocess.run(argv, check=True, capture_output=True, env=_env(work, p))
    problem = verify(src, repo, tag, digest)
    if problem:
        raise RuntimeError(f"seeding {repo} failed: {problem}")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- reporting


def _cmd(argv: Sequence[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


def _fingerprint(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def machine(code: Path, fingerprint: str) -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    dirty = _cmd(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"])
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": _cmd(["nproc"]),
        "cpu": cpu,
        "memory": next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "skopeo": _cmd(["skopeo", "--version"]),
        "registry": _cmd(["docker-registry", "--version"]),
        "oci-promote": f"git {_cmd(['git', '-C', str(ROOT), 'rev-parse', '--short', 'HEAD'])}"
        + (" + uncommitted changes in src/" if dirty else "")
        + f"; installed with `pip install .` into a fresh venv (sha256 of *.py: {fingerprint})",
        "startup (median of 5)": f"`oci-promote --help` {startup(*oci_promote_argv(code, '--help')):.2f} s, "
        f"`skopeo --version` {startup(['skopeo', '--version']):.2f} s",
        "where oci-promote's start-up goes (median of 5, the bench venv's python)": "; ".join(
            f"`python -c '{stmt}'` {startup([str(code / 'bin' / 'python'), '-c', stmt]):.3f} s"
            for stmt in IMPORT_PROBES
        ),
        "loadavg at start": loadavg(),
    }


#: Start-up of the interpreter alone, with the mandated dependencies, and with the whole CLI.
IMPORT_PROBES = (
    "pass",
    "import asyncio, httpx",
    "import asyncio, httpx, pydantic_settings",
    "import oci_promote.cli",
)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def startup(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Median wall seconds of a command that does no work: process start plus imports."""
    walls = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, env=(os.environ | env) if env else None)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def _mix(entries: Sequence[AccessEntry]) -> Counter[str]:
    return Counter(category(e) for e in entries)


def _split(runs: Sequence[list[AccessEntry]]) -> str:
    cats = ("blob-check", "blob-transfer", "manifest", "other")
    return "/".join(f"{med([_mix(r)[c] for r in runs]):g}" for c in cats)


def report(
    images: list[Image],
    results: dict[tuple[str, str], list[Outcome]],
    info: dict[str, str],
    mode: str,
    elapsed: float,
) -> str:
    lines = [f"# oci-promote vs skopeo ({mode} run)", ""]
    lines += [f"- **{k}**: {v}" for k, v in info.items()]
    lines += [f"- **bench wall time**: {elapsed / 60:.1f} min", ""]
    lines += [
        "Requests are to the destination registry; split = blob-check (HEAD blob) / blob-transfer "
        "(POST/PATCH/PUT upload, GET blob) / manifest / other (`/v2/` ping etc.).",
        "",
        "| image | tool | ok runs | wall s median (min-max) | wall ratio o/s | dest requests median "
        "(split) | req ratio o/s | src requests median | uploaded MiB | peak RSS MiB median (max) "
        "| no-op requests median (split) | no-op wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    targets: list[str] = []
    for img in images:
        stats: dict[str, dict[str, float]] = {}
        for tool in TOOLS:
            runs = results[(img.key, tool)]
            ok = [r for r in runs if r.ok]
            walls, reqs = [r.wall for r in ok], [len(r.requests) for r in ok]
            rss = [r.rss_kib / 1024 for r in ok]
            stats[tool] = {"wall": med(walls), "req": med(reqs), "rss_max": max(rss, default=float("nan"))}
            base = [r for r in results[(img.key, "skopeo")] if r.ok]
            mine = tool == "oci-promote"
            wr = _ratio(med(walls), med([r.wall for r in base])) if mine else ""
            rr = _ratio(med(reqs), med([len(r.requests) for r in base])) if mine else ""
            lines.append(
                f"| {img.title} | {tool} | {len(ok)}/{len(runs)} | "
                f"{med(walls):.2f} ({min(walls, default=0):.2f}-{max(walls, default=0):.2f}) | {wr} | "
                f"{med(reqs):g} ({_split([r.requests for r in ok])}) | {rr} | "
                f"{med([r.src_requests for r in ok]):g} | "
                f"{med([r.uploaded / MIB for r in ok]):.1f} | "
                f"{med(rss):.0f} ({stats[tool]['rss_max']:.0f}) | "
                f"{med([len(r.noop) for r in ok]):g} ({_split([r.noop for r in ok])}) | "
                f"{med([r.noop_wall for r in ok]):.2f} |"
            )
            for error, n in Counter(r.error for r in runs if not r.ok).items():
                targets.append(f"- FAILED {n}/{len(runs)} runs ({img.title}, {tool}), not counted: {error}")
        o, s = stats["oci-promote"], stats["skopeo"]
        if img.key == "multi":
            targets.append(
                _target(
                    o["wall"] <= s["wall"],
                    (o["wall"], s["wall"]),
                    f"wall time oci-promote ≤ skopeo on the "
                    f"{img.title}: {o['wall']:.2f} s vs {s['wall']:.2f} s",
                )
            )
        targets.append(
            _target(
                o["req"] <= 0.75 * s["req"],
                (o["req"], s["req"]),
                f"destination requests ≤ 0.75x skopeo's "
                f"({img.title}): {o['req']:g} vs 0.75x{s['req']:g} = {0.75 * s['req']:g}",
            )
        )
        noop_runs = [r for r in results[(img.key, "oci-promote")] if r.ok]
        transfer = sum(_mix(r.noop)["blob-transfer"] for r in noop_runs)
        heads = sum(_mix(r.noop)["blob-check"] for r in noop_runs)
        noop_fail = sum(not r.noop_ok for r in noop_runs)
        targets.append(
            _target(
                transfer == 0 and noop_fail == 0,
                (float(len(noop_runs) or "nan"),),
                f"no-op re-run sends no blob upload/GET ({img.title}): {transfer} blob-transfer "
                f"requests over {len(noop_runs)} re-runs ({heads} blob HEADs; "
                f"{noop_fail} re-runs failed or left a wrong digest)",
            )
        )
        if img.key == "big":
            mb = o["rss_max"] * MIB / 1e6
            targets.append(
                _target(
                    mb < 150,
                    (mb,),
                    f"peak RSS < 150 MB copying the {img.title}: max "
                    f"{o['rss_max']:.1f} MiB = {mb:.1f} MB (skopeo max {s['rss_max']:.1f} MiB)",
                )
            )
    lines += ["", "## Targets", "", *targets, ""]
    for img in images:
        lines += breakdown(img, results)
    lines += raw_runs(images, results)
    return "\n".join(lines)


def _target(met: bool, inputs: tuple[float, ...], text: str) -> str:
    if any(math.isnan(x) for x in inputs):
        return f"- NOT MEASURED (no successful run): {text}"
    return f"- {'MET' if met else 'MISSED'}: {text}"


def raw_runs(images: list[Image], results: dict[tuple[str, str], list[Outcome]]) -> list[str]:
    lines = [
        "## Every run (in execution order per image: A B A B ...)",
        "",
        "| image | tool | run | ok | wall s | peak RSS MiB | dest req | src req | uploaded MiB "
        "| no-op req | no-op wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for img in images:
        for n in range(img.runs):
            for tool in TOOLS:
                r = results[(img.key, tool)][n]
                lines.append(
                    f"| {img.key} | {tool} | {n + 1} | {'yes' if r.ok else 'FAILED'} | {r.wall:.2f} | "
                    f"{r.rss_kib / 1024:.1f} | {len(r.requests)} | {r.src_requests} | "
                    f"{r.uploaded / MIB:.1f} | {len(r.noop)} | {r.noop_wall:.2f} |"
                )
    return [*lines, ""]


def breakdown(img: Image, results: dict[tuple[str, str], list[Outcome]]) -> list[str]:
    lines = [f"## Requests of the first successful run, {img.title}", ""]
    for tool in TOOLS:
        first = next((r for r in results[(img.key, tool)] if r.ok), None)
        if first is None:
            continue
        for label, entries in (("fresh destination", first.requests), ("no-op re-run", first.noop)):
            lines += [f"**{tool}, {label}** ({len(entries)} requests)", "", "```"]
            lines += [f"{n:4d}  {pat}" for pat, n in sorted(Counter(map(pattern, entries)).items())]
            lines += ["```", ""]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small images and few runs (smoke test)")
    parser.add_argument("--runs", type=int, help="runs per tool for every image (overrides defaults)")
    parser.add_argument("--out", type=Path, help="Markdown output (bench/results.md; -quick for --quick)")
    args = parser.parse_args(argv)
    for binary in ("skopeo", "docker-registry", "unshare", GNU_TIME, str(VENV_PYTHON)):
        if shutil.which(binary) is None:
            parser.error(f"{binary} not found")
    layer, big, multi_runs, big_runs = (2 * MIB, 64 * MIB, 2, 1) if args.quick else (8 * MIB, 512 * MIB, 5, 3)
    out = args.out or ROOT / "bench" / ("results-quick.md" if args.quick else "results.md")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="oci-promote-bench-") as tmp_name:
        tmp = Path(tmp_name)
        code = tmp / "venv"
        log("installing oci-promote into a fresh venv (pip install .)")
        fingerprint = install_release(code)
        if fingerprint != _fingerprint(ROOT / "src" / "oci_promote"):
            raise RuntimeError("the installed package differs from src/; run again")
        info = machine(code, fingerprint)
        log(f"building layouts in {tmp}")
        specs = [
            (
                "multi",
                f"multi-platform index (2x4 layers of {layer // MIB} MiB)",
                ["amd64", "arm64"],
                4,
                layer,
                args.runs or multi_runs,
            ),
            (
                "big",
                f"single-platform, 1 layer of {big // MIB} MiB",
                ["amd64"],
                1,
                big,
                args.runs or big_runs,
            ),
        ]
        images = []
        src = start_registry(tmp / "source")
        try:
            for key, title, archs, layers, size, runs in specs:
                t0 = time.perf_counter()
                layout = tmp / f"layout-{key}"
                digest = build_layout(layout, "v1", archs, layers, size)
                log(f"built {key} {digest[:19]} in {time.perf_counter() - t0:.1f}s; seeding with skopeo")
                seed(src, layout, "v1", f"bench/{key}", digest, tmp)
                images.append(Image(key, title, "v1", digest, blob_sizes(layout), runs))
            results: dict[tuple[str, str], list[Outcome]] = {(i.key, t): [] for i in images for t in TOOLS}
            log("warm-up: one unrecorded copy per tool")
            for tool in TOOLS:
                one_run(tool, images[0], src, tmp, 0, code)
            seq = 0
            for img in images:
                for n in range(img.runs):
                    for tool in TOOLS:  # A B A B ...
                        seq += 1
                        r = one_run(tool, img, src, tmp, seq, code)
                        results[(img.key, tool)].append(r)
                        log(
                            f"{img.key} run {n + 1}/{img.runs} {tool}: "
                            + (
                                f"{r.wall:.2f}s {len(r.requests)} req rss {r.rss_kib // 1024} MiB, "
                                f"no-op {len(r.noop)} req"
                                if r.ok
                                else f"FAILED {r.error}"
                            )
                        )
        finally:
            src.stop()
    info["loadavg at end"] = loadavg()
    if _fingerprint(ROOT / "src" / "oci_promote") != fingerprint:
        info["oci-promote"] += " (src/ has changed since; the results are for the installed copy)"
    text = report(images, results, info, "quick" if args.quick else "full", time.perf_counter() - started)
    print(text)
    out.write_text(text + "\n")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
