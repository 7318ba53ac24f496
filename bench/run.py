"""Benchmark `oci-promote copy` against skopeo, crane, regctl and oras on this machine.

Usage: .venv/bin/python bench/run.py [--quick] [--runs N] [--delay MS] [--out FILE]

Three scenarios, every tool in one run, the tools taking turns, a fresh destination
registry per run (see bench/README.md):

1. LAN: loopback, a multi-platform index and one big layer;
2. WAN: every registry behind a delay line (bench/relay.py; 20 ms each way by default);
3. WAN, signed: the WAN image with a cosign signature, an attestation and an SBOM, copied
   with them (oci-promote, regctl --referrers --digest-tags, oras cp -r);
4. fan-out: one source, three destinations in one command (the WAN image and links).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import loadavg, machine  # noqa: E402
from bench.relay import DelayLine  # noqa: E402
from bench.report import Results, report  # noqa: E402
from bench.scenarios import Outcome, Scenario, Source, one_run  # noqa: E402
from bench.tools import GNU_TIME, TOOLS, fingerprint, install_release, seed  # noqa: E402
from testkit.images import MIB, build_layout  # noqa: E402
from testkit.interop import image_tree  # noqa: E402
from testkit.peers import missing_peers  # noqa: E402
from testkit.registry import start_registry  # noqa: E402
from testkit.signing import SigningWorld  # noqa: E402

#: key -> (title, archs, layers, layer size, runs), full and --quick.
FULL = {
    "lan-multi": ("LAN, multi-platform index (2x4 layers of 8 MiB)", 2, 4, 8 * MIB, 3),
    "lan-big": ("LAN, single-platform, 1 layer of 512 MiB", 1, 1, 512 * MIB, 2),
    "wan": ("WAN, multi-platform index (2x6 layers of 2 MiB)", 2, 6, 2 * MIB, 3),
}
QUICK = {
    "lan-multi": ("LAN, multi-platform index (2x2 layers of 1 MiB)", 2, 2, MIB, 1),
    "lan-big": ("LAN, single-platform, 1 layer of 32 MiB", 1, 1, 32 * MIB, 1),
    "wan": ("WAN, multi-platform index (2x2 layers of 1 MiB)", 2, 2, MIB, 1),
}
FANOUT_DESTINATIONS = 3
#: The tools that carry signatures (issue 10): regctl with --referrers --digest-tags, oras cp -r.
SIGNED_TOOLS = ("oci-promote", "regctl", "oras")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def check_prerequisites(parser: argparse.ArgumentParser) -> None:
    for binary in ("skopeo", "docker-registry", "unshare", "go", GNU_TIME):
        if shutil.which(binary) is None:
            parser.error(f"{binary} not found")
    if missing_peers():
        parser.error(f"{', '.join(missing_peers())} not built: run scripts/setup.sh")
    if os.geteuid() != 0:
        parser.error("run as root: skopeo's blob-info cache is isolated with unshare --mount")


def build_scenarios(quick: bool, tmp: Path, src_host: str, runs: int | None) -> dict[str, Scenario]:
    """Build each image once, seed it into the source with skopeo, and describe the scenarios."""
    out: dict[str, Scenario] = {}
    for key, (title, archs, layers, size, default_runs) in (QUICK if quick else FULL).items():
        started = time.perf_counter()
        layout = tmp / f"layout-{key}"
        digest = build_layout(layout, "v1", ["amd64", "arm64"][:archs], layers, size)
        seed(f"{src_host}/bench/{key}:v1", layout, "v1", tmp / f"seed-{key}")
        log(f"built and seeded {key} {digest[:19]} in {time.perf_counter() - started:.1f}s")
        tree = image_tree(layout, digest)
        out[key] = Scenario(key, title, f"bench/{key}", "v1", tree, runs or default_runs, wan=key == "wan")
    wan = out["wan"]
    out["wan-signed"] = signed_scenario(wan, tmp, src_host, runs)
    out["fanout"] = Scenario(
        "fanout",
        f"fan-out over the WAN: {wan.title.split(', ', 1)[1]} to {FANOUT_DESTINATIONS} destinations",
        wan.repo,
        wan.tag,
        wan.tree,
        runs or (1 if quick else 2),
        wan=True,
        destinations=FANOUT_DESTINATIONS,
    )
    return out


def signed_scenario(wan: Scenario, tmp: Path, src_host: str, runs: int | None) -> Scenario:
    """The WAN image again, signed with cosign (legacy .sig tag), attested (.att tag) and with an
    SBOM attached by oras (the referrers tag schema: distribution has no referrers API)."""
    repo = "bench/wan-signed"
    layout = tmp / "layout-wan"
    seed(f"{src_host}/{repo}:{wan.tag}", layout, wan.tag, tmp / "seed-wan-signed")
    world = SigningWorld(tmp / "signing")
    keys = world.key_pair()
    subject = f"{src_host}/{repo}@{wan.digest}"
    world.cosign_sign(subject, keys)
    world.cosign_attest(subject, keys)
    world.oras_attach(subject, "application/spdx+json", json.dumps({"spdxVersion": "SPDX-2.3"}))
    prefix = wan.digest.replace(":", "-")
    log(f"signed, attested and SBOM-attached {repo}@{wan.digest[:19]}")
    return Scenario(
        "wan-signed",
        f"WAN, signed: {wan.title.split(', ', 1)[1]} + cosign signature, attestation and oras SBOM",
        repo,
        wan.tag,
        wan.tree,
        runs or wan.runs,
        wan=True,
        tools=SIGNED_TOOLS,
        extra_tags=(f"{prefix}.sig", f"{prefix}.att", prefix),
    )


def run_all(
    scenarios: dict[str, Scenario], src: Source, lan_src: Source, line: DelayLine, tmp: Path, venv: Path
) -> Results:
    results: Results = {(sc.key, t): [] for sc in scenarios.values() for t in sc.tools}
    log("warm-up: one unrecorded LAN copy per tool")
    for tool in TOOLS:
        one_run(tool, scenarios["lan-multi"], lan_src, None, tmp, 0, venv)
    seq = 0
    for sc in scenarios.values():
        for n in range(sc.runs):
            for tool in sc.tools:
                seq += 1
                where = src if sc.wan else lan_src
                r: Outcome = one_run(tool, sc, where, line if sc.wan else None, tmp, seq, venv)
                results[(sc.key, tool)].append(r)
                log(
                    f"{sc.key} run {n + 1}/{sc.runs} {tool}: "
                    + (
                        f"{r.wall:.2f}s {len(r.dest)} dest req, {r.src_blob_gets} src blob GETs, "
                        f"rss {r.rss_kib // 1024} MiB, no-op {len(r.noop)} req"
                        if r.ok
                        else f"FAILED {r.error}"
                    )
                )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small images, one run each (smoke test)")
    parser.add_argument("--runs", type=int, help="runs per tool in every scenario (overrides defaults)")
    parser.add_argument("--delay", type=float, default=20.0, help="WAN delay each way, ms (20)")
    parser.add_argument("--out", type=Path, help="Markdown output (bench/results.md; -quick for --quick)")
    args = parser.parse_args(argv)
    check_prerequisites(parser)
    delay = args.delay / 1000
    out = args.out or ROOT / "bench" / ("results-quick.md" if args.quick else "results.md")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="oci-promote-bench-") as tmp_name:
        tmp = Path(tmp_name)
        venv = tmp / "venv"
        log("installing oci-promote into a fresh venv (pip install .)")
        installed = install_release(venv)
        if installed != fingerprint(ROOT / "src" / "oci_promote"):
            raise RuntimeError("the installed package differs from src/; run again")
        info = machine(venv, installed)
        line = DelayLine(delay)
        registry = start_registry(tmp / "source")
        try:
            lan_src = Source(registry)
            src = Source(registry, line.add("src", registry.host))
            scenarios = build_scenarios(args.quick, tmp, registry.host, args.runs)
            results = run_all(scenarios, src, lan_src, line, tmp, venv)
        finally:
            registry.stop()
            line.close()
    info["loadavg at end"] = loadavg()
    if fingerprint(ROOT / "src" / "oci_promote") != installed:
        info["oci-promote"] += " (src/ has changed since; the results are for the installed copy)"
    mode = "quick" if args.quick else "full"
    text = report(scenarios, results, info, mode, time.perf_counter() - started, delay)
    print(text)
    out.write_text(text + "\n")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
