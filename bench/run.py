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
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.charts import draw  # noqa: E402
from bench.machine import loadavg, machine  # noqa: E402
from bench.profile import profile_copy  # noqa: E402
from bench.relay import DelayLine  # noqa: E402
from bench.report import Results, report  # noqa: E402
from bench.scenarios import Outcome, Scenario, Source, one_run  # noqa: E402
from bench.tools import GNU_TIME, TOOLS, Mode, fingerprint, install_release, seed  # noqa: E402
from testkit.images import MIB, build_layout  # noqa: E402
from testkit.interop import image_tree  # noqa: E402
from testkit.peers import missing_peers  # noqa: E402
from testkit.registry import start_registry  # noqa: E402
from testkit.signing import SigningWorld  # noqa: E402

#: key -> (title, archs, layers, layer size, runs), full and --quick. WAN images are served
#: over TLS (a test CA every tool trusts through SSL_CERT_FILE).
FULL = {
    "lan-multi": ("LAN, multi-platform index (2x4 layers of 8 MiB)", 2, 4, 8 * MIB, 3),
    "lan-big": ("LAN, single-platform, 1 layer of 512 MiB", 1, 1, 512 * MIB, 2),
    "wan": ("WAN, TLS, multi-platform index (2x6 layers of 2 MiB)", 2, 6, 2 * MIB, 3),
    "wan-big": ("WAN, TLS, multi-platform index (4x25 layers of 2 MiB)", 4, 25, 2 * MIB, 2),
}
QUICK = {
    "lan-multi": ("LAN, multi-platform index (2x2 layers of 1 MiB)", 2, 2, MIB, 1),
    "lan-big": ("LAN, single-platform, 1 layer of 32 MiB", 1, 1, 32 * MIB, 1),
    "wan": ("WAN, TLS, multi-platform index (2x2 layers of 1 MiB)", 2, 2, MIB, 1),
    "wan-big": ("WAN, TLS, multi-platform index (2x4 layers of 1 MiB)", 2, 4, MIB, 1),
}
#: The flaky-link scenarios: one blob of this size, every connection reset after CUT bytes.
RESET_BLOB = {False: 1024 * MIB, True: 64 * MIB}
RESET_CUT = {False: 100 * MIB, True: 16 * MIB}
#: The tools the issue names for the flaky links.
RESET_TOOLS = ("oci-promote", "skopeo", "crane", "regctl")
#: Equal concurrency: every tool moves this many blobs at once (oci-promote's default).
EQUAL_JOBS = 8
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


def build_scenarios(
    quick: bool, tmp: Path, src_host: str, tls_host: str, runs: int | None
) -> dict[str, Scenario]:
    """Build each image once, seed it into the sources with skopeo, and describe the scenarios:
    each at the tools' defaults and at equal concurrency (key suffix ``-eq``)."""
    out: dict[str, Scenario] = {}
    for key, (title, archs, layers, size, default_runs) in (QUICK if quick else FULL).items():
        started = time.perf_counter()
        layout = tmp / f"layout-{key}"
        digest = build_layout(layout, "v1", ["amd64", "arm64", "ppc64le", "s390x"][:archs], layers, size)
        wan = key.startswith("wan")
        seed(f"{tls_host if wan else src_host}/bench/{key}:v1", layout, "v1", tmp / f"seed-{key}")
        log(f"built and seeded {key} {digest[:19]} in {time.perf_counter() - started:.1f}s")
        tree = image_tree(layout, digest)
        out[key] = Scenario(key, title, f"bench/{key}", "v1", tree, runs or default_runs, wan=wan, tls=wan)
    wan = out["wan"]
    out["wan-signed"] = signed_scenario(wan, tmp, src_host, runs)
    out["fanout"] = Scenario(
        "fanout",
        f"fan-out over the WAN, TLS: {wan.title.split(', ', 2)[2]} to {FANOUT_DESTINATIONS} destinations "
        "(the peers one destination after another)",
        wan.repo,
        wan.tag,
        wan.tree,
        runs or (1 if quick else 2),
        wan=True,
        tls=True,
        destinations=FANOUT_DESTINATIONS,
    )
    for key in list(out):
        sc = out[key]
        out[f"{key}-eq"] = dataclasses.replace(
            sc,
            key=f"{key}-eq",
            title=f"{sc.title}, equal concurrency ({EQUAL_JOBS})",
            mode=Mode(jobs=EQUAL_JOBS),
            base=key,
            noop=False,
        )
    fan = out["fanout"]
    out["fanout-par"] = dataclasses.replace(
        fan,
        key="fanout-par",
        title=fan.title.replace("one destination after another", "three parallel processes")
        + f", equal concurrency ({EQUAL_JOBS})",
        mode=Mode(jobs=EQUAL_JOBS, parallel=True),
        base="fanout",
        noop=False,
    )
    out.update(reset_scenarios(quick, tmp, src_host))
    return out


def reset_scenarios(quick: bool, tmp: Path, src_host: str) -> dict[str, Scenario]:
    """One big blob through a link that resets every connection after RESET_CUT bytes: from
    the source, and to the destination (distribution 2.8, and olareg, whose upload sessions
    survive a broken PATCH)."""
    size, cut = RESET_BLOB[quick], RESET_CUT[quick]
    layout = tmp / "layout-reset"
    digest = build_layout(layout, "v1", ["amd64"], 1, size)
    seed(f"{src_host}/bench/reset:v1", layout, "v1", tmp / "seed-reset")
    tree = image_tree(layout, digest)
    what = f"1 blob of {size // MIB} MiB, every connection reset after {cut // MIB} MiB"
    common = {"repo": "bench/reset", "tag": "v1", "tree": tree, "runs": 1, "tools": RESET_TOOLS}
    flaky = {"noop": False, "timeout": 120.0 if not quick else 60.0}  # the peers may retry for long
    return {
        "reset-src": Scenario("reset-src", f"LAN, {what} from the source", **common, **flaky, cut_down=cut),
        "reset-dest": Scenario(
            "reset-dest",
            f"LAN, {what} to the destination (olareg)",
            **common,
            **flaky,
            cut_up=cut,
            dest_kind="olareg",
        ),
        "reset-dest-distribution": Scenario(
            "reset-dest-distribution",
            f"LAN, {what} to the destination (distribution 2.8)",
            **common,
            **flaky,
            cut_up=cut,
        ),
    }


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
        f"WAN, signed (plain HTTP): {wan.title.split(', ', 2)[2]} + cosign signature, attestation "
        "and oras SBOM",
        repo,
        wan.tag,
        wan.tree,
        runs or wan.runs,
        wan=True,
        tools=SIGNED_TOOLS,
        extra_tags=(f"{prefix}.sig", f"{prefix}.att", prefix),
    )


def run_all(
    scenarios: dict[str, Scenario],
    sources: dict[bool, tuple[Source, Source]],
    line: DelayLine,
    flaky: DelayLine,
    tmp: Path,
    venv: Path,
    only: set[str],
) -> Results:
    """Every scenario (in `only`), round after round; the order of the tools is reversed every
    other round."""
    results: Results = {(sc.key, t): [] for sc in scenarios.values() for t in sc.tools}
    log("warm-up: one unrecorded LAN copy per tool")
    for tool in TOOLS:
        one_run(tool, scenarios["lan-multi"], sources[False][1], None, tmp, 0, venv)
    seq = 0
    for sc in (sc for sc in scenarios.values() if sc.key in only):
        wan_src, lan_src = sources[sc.tls]
        for n in range(sc.runs):
            for tool in sc.tools if n % 2 == 0 else sc.tools[::-1]:
                seq += 1
                where = wan_src if sc.wan else lan_src
                relays = line if sc.wan else flaky if sc.cut_down or sc.cut_up else None
                r: Outcome = one_run(tool, sc, where, relays, tmp, seq, venv)
                results[(sc.key, tool)].append(r)
                log(
                    f"{sc.key} run {n + 1}/{sc.runs} {tool}: "
                    + (
                        f"{r.wall:.2f}s cpu {r.cpu:.2f}s {len(r.dest)} dest req, {r.src_blob_gets} src "
                        f"blob GETs, rss {r.rss_kib // 1024} MiB, conns {r.connections}, "
                        f"src down {r.src_down / MIB:.0f} MiB, dest up {r.dest_up / MIB:.0f} MiB"
                        if r.ok
                        else f"FAILED {r.error}"
                    )
                )
    return results


def fault_campaign() -> str:
    """Run the fault campaign test (tests/integration/test_faults.py) in this run; its summary."""
    log("fault campaign (pytest tests/integration/test_faults.py -k campaign)")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/integration/test_faults.py", "-k", "campaign", "-q", "-s"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("fault campaign:")), None)
    return line or f"no summary (pytest exit {proc.returncode})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small images, one run each (smoke test)")
    parser.add_argument("--runs", type=int, help="runs per tool in every scenario (overrides defaults)")
    parser.add_argument("--delay", type=float, default=20.0, help="WAN delay each way, ms (20)")
    parser.add_argument("--note", help="a line about the machine's state, printed with the results")
    parser.add_argument("--no-campaign", action="store_true", help="skip the fault campaign (pytest)")
    parser.add_argument("--only", help="comma-separated scenario keys (a partial run, for trying)")
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
        if args.note:
            info["note"] = args.note
        line, flaky = DelayLine(delay), DelayLine(0.0)
        registry = start_registry(tmp / "source")
        tls_registry = start_registry(tmp / "source-tls", tls=True)
        try:
            sources = {
                tls: (Source(reg, line.add("src", reg.host)), Source(reg))
                for tls, reg in ((False, registry), (True, tls_registry))
            }
            scenarios = build_scenarios(args.quick, tmp, registry.host, tls_registry.host, args.runs)
            only = set(args.only.split(",")) if args.only else set(scenarios)
            results = run_all(scenarios, sources, line, flaky, tmp, venv, only)
            log("profile: one more copy of the big LAN layer under py-spy")
            profile = profile_copy(scenarios["lan-big"], sources[False][1], tmp, venv)
        finally:
            registry.stop()
            tls_registry.stop()
            line.close()
            flaky.close()
    campaign = None if args.no_campaign else fault_campaign()
    info["loadavg at end"] = loadavg()
    if fingerprint(ROOT / "src" / "oci_promote") != installed:
        info["oci-promote"] += " (src/ has changed since; the results are for the installed copy)"
    mode = "quick" if args.quick else "full"
    charts = draw(scenarios, results, out.parent / ("charts-quick" if args.quick else "charts"))
    elapsed = time.perf_counter() - started
    text = report(scenarios, results, info, mode, elapsed, delay, campaign, charts, profile)
    print(text)
    out.write_text(text + "\n")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
