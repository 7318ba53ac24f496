"""bench/results-release.md: the targets of issue 19 marked met or missed, one table, every run."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from bench.release_images import Release
from bench.release_measure import Measured
from bench.release_tools import APPLY_JOBS, REGSYNC_PARALLEL, SHARDS
from testkit.images import MIB

Results = dict[str, list[Measured]]

TOOL_TITLES = {
    "oci-promote": "`oci-promote apply release.yaml`",
    "regsync": "`regsync once` (`parallel` unset: 1)",
    f"regsync-p{REGSYNC_PARALLEL}": f"`regsync once`, `parallel: {REGSYNC_PARALLEL}`",
    "skopeo": "`skopeo sync --all --preserve-digests --src yaml` x 2 destinations",
    "crane": "`crane copy` loop (one per image and destination, in sequence)",
    "oci-promote-shards": f"`plan --shards {SHARDS}`, {SHARDS} x `stage` at once, `commit`",
    f"oci-promote-j{APPLY_JOBS}": f"`oci-promote apply release.yaml --jobs {APPLY_JOBS}` (not the default)",
}


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ok_runs(results: Results, tool: str) -> list[Measured]:
    return [m for m in results.get(tool, []) if m.ok]


def wall(results: Results, tool: str) -> float:
    return med([m.run.wall for m in ok_runs(results, tool)])


def _mark(met: bool) -> str:
    return "**MET**" if met else "**MISSED**"


def targets(release: Release, results: Results, plan: dict[str, Any] | None) -> list[str]:
    lines = []
    apply = wall(results, "oci-promote")
    for peer, factor in (
        (f"regsync-p{REGSYNC_PARALLEL}", 0.5),
        ("regsync", 0.5),
        ("crane", 0.3),
    ):
        if peer not in results or "oci-promote" not in results:
            continue
        other = wall(results, peer)
        ratio = apply / other
        lines.append(
            f"- `apply` <= {factor}x {TOOL_TITLES[peer]}'s wall: {apply:.2f} s / {other:.2f} s = "
            f"{ratio:.2f}x: {_mark(ratio <= factor)}"
        )
    distinct = len(release.distinct_blobs())
    for tool in ("oci-promote",):
        runs = ok_runs(results, tool)
        if not runs:
            continue
        gets = [m.src_blob_gets for m in runs]
        reread = max(m.src_blobs_reread for m in runs)
        repeated = max(m.repeated for m in runs)
        once = all(m.src_blob_gets == m.src_blobs_read == distinct for m in runs)
        lines.append(
            "- `apply`: source read once per distinct blob: "
            f"{'/'.join(map(str, gets))} blob GETs (each run) for {distinct} distinct blobs, "
            f"{reread} read more than once: {_mark(once)}"
        )
        lines.append(
            "- `apply`: no blob uploaded twice to one repository: at most "
            f"{repeated} repeated uploads/mounts in a run: {_mark(repeated == 0)}"
        )
    if plan is not None:
        lines.append(
            f"- `plan` of a {plan['entries']}-entry file against the in-memory storage < 2 s: "
            f"median {plan['median']:.2f} s of {len(plan['walls'])} (CPU {med(plan['cpu']):.2f} s): "
            f"{_mark(plan['median'] < 2.0)}"
        )
    return lines


def table(release: Release, results: Results) -> list[str]:
    distinct = len(release.distinct_blobs())
    needed = sum(len(b) for b in release.blobs_per_repo().values())
    lines = [
        "| tool | ok runs | wall s median (min-max) | apply ÷ tool | tool CPU s "
        f"| src blob GETs / {distinct} distinct "
        f"| dest 1 uploads+mounts / {needed} needed (repeated) | dest 2 uploads+mounts / {needed} "
        "(repeated) | requests: src + dest 1 + dest 2 = total |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    apply = wall(results, "oci-promote")
    for tool, runs in results.items():
        ok = ok_runs(results, tool)
        walls = [m.run.wall for m in ok]
        if not ok:
            lines.append(
                f"| {TOOL_TITLES[tool]} | 0/{len(runs)} | FAILED: {runs[0].error if runs else ''} | | | | | |"
            )
            continue
        dests = [
            f"{med([m.dests[n].uploads for m in ok]):g}+{med([m.dests[n].mounts for m in ok]):g} "
            f"({max(m.dests[n].repeated for m in ok)})"
            for n in range(2)
        ]
        reqs = [
            med([m.src_requests for m in ok]),
            *(med([m.dests[n].requests for m in ok]) for n in range(2)),
        ]
        lines.append(
            f"| {TOOL_TITLES[tool]} | {len(ok)}/{len(runs)} | "
            f"{med(walls):.2f} ({min(walls):.2f}-{max(walls):.2f}) "
            f"| {apply / med(walls):.2f} | {med([m.run.cpu for m in ok]):.1f} "
            f"| {med([m.src_blob_gets for m in ok]):g} | {dests[0]} | {dests[1]} "
            f"| {' + '.join(f'{r:g}' for r in reqs)} = {med([m.requests for m in ok]):g} |"
        )
    return lines


METHODS = ("HEAD", "GET", "POST", "PATCH", "PUT", "DELETE")


def methods_table(results: Results) -> list[str]:
    """Requests by method at each registry (access logs; medians), to see where they go."""
    lines = [
        "",
        "Requests by method (access logs, medians; HEAD/GET/POST/PATCH/PUT/DELETE):",
        "",
        "| tool | source | dest 1 | dest 2 |",
        "|---|---|---|---|",
    ]
    for tool in results:
        ok = ok_runs(results, tool)
        if not ok:
            continue
        src = "/".join(f"{med([m.src_methods[x] for m in ok]):g}" for x in METHODS)
        dests = ["/".join(f"{med([m.dests[n].methods[x] for m in ok]):g}" for x in METHODS) for n in range(2)]
        lines.append(f"| {tool} | {src} | {dests[0]} | {dests[1]} |")
    return lines


def shard_steps(results: Results) -> list[str]:
    runs = ok_runs(results, "oci-promote-shards")
    if not runs:
        return []
    names = [s.name for s in runs[0].run.steps]
    parts = ", ".join(f"{n} {med([m.run.steps[i].wall for m in runs]):.2f} s" for i, n in enumerate(names))
    return [
        "",
        f"Sharded run, median of each phase: {parts} (the {SHARDS} `stage` processes run at once; "
        "their phase ends with the last one). Total wall and requests are in the table.",
    ]


def raw(results: Results) -> list[str]:
    lines = [
        "| tool | run | ok | wall s | CPU s | phases s | load before | src req "
        "| src blob GETs (distinct, re-read) "
        "| dest 1 up+mount (rep.) | dest 2 up+mount (rep.) | dest 1 req | dest 2 req |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tool, runs in results.items():
        for n, m in enumerate(runs, 1):
            d = m.dests + [None] * (2 - len(m.dests))  # type: ignore[list-item]
            cells = [f"{x.uploads}+{x.mounts} ({x.repeated})" if x else "" for x in d] + [
                str(x.requests) if x else "" for x in d
            ]
            lines.append(
                f"| {tool} | {n} | {'yes' if m.ok else 'FAILED: ' + m.error[:120]} | {m.run.wall:.2f} | "
                f"{m.run.cpu:.1f} | "
                f"{' + '.join(f'{s.name} {s.wall:.2f}' for s in m.run.steps)} | {m.load_before} | "
                f"{m.src_requests} | {m.src_blob_gets} ({m.src_blobs_read}, {m.src_blobs_reread}) | "
                + " | ".join(cells)
                + " |"
            )
    return lines


def micro_section(plan: dict[str, Any] | None, error: str) -> list[str]:
    lines = ["## `plan` of a 1,000-entry file against the in-memory storage (bench/plan_micro.py)", ""]
    if plan is None:
        return [*lines, f"FAILED: {error}", ""]
    return [
        *lines,
        f"{plan['description']}",
        "",
        f"Wall of `plan` (in-process, after imports), {len(plan['walls'])} runs: "
        f"median {plan['median']:.3f} s, "
        f"min {min(plan['walls']):.3f} s, max {max(plan['walls']):.3f} s; CPU time of the process during "
        f"each: median {med(plan['cpu']):.3f} s (wall above CPU is time the process waited for a CPU "
        "on this shared machine: the plan does no I/O).",
        "",
    ]


def report(
    release: Release,
    results: Results,
    info: dict[str, str],
    runs: int,
    delay_ms: float,
    elapsed: float,
    plan: dict[str, Any] | None,
    plan_error: str = "",
) -> str:
    blobs = release.distinct_blobs()
    lines = ["# Promoting a release: oci-promote vs regsync, skopeo sync and a crane loop", ""]
    lines += [f"- **{k}**: {v}" for k, v in info.items()]
    lines += [f"- **bench wall time**: {elapsed / 60:.1f} min, {runs} run(s) per tool", ""]
    lines += [
        f"**The release**: {len(release.images)} images in 5 source repositories (`staging/svc-a`..`svc-e`, "
        f"6 tags each), one of them (`svc-e:1.0.5`) a linux/amd64 + linux/arm64 index; {release.manifests()} "
        f"manifests, {len(blobs)} distinct blobs, {sum(blobs.values()) / MIB:.1f} MiB. Every amd64 image "
        "shares one OS layer, three repositories share one runtime layer and two another, the tags of a "
        "repository share its dependencies layer. Destinations: two empty registries, repositories "
        f"`prod/svc-*`. Every registry behind its own relay, {delay_ms:g} ms each way ({2 * delay_ms:g} ms "
        "round trip), no bandwidth cap.",
        "",
        "**Counting**: requests are those the relays saw start; source blob GETs come from the source's "
        "access log; at each destination an *upload* is a completed blob upload (the closing `PUT`, or a "
        "monolithic `POST ?digest=`, answered 201) and a *mount* a `POST ?mount=` answered 201, against "
        "the distinct blobs its five repositories need (summed per repository); *repeated* counts "
        "uploads or mounts of a blob to a repository that already had it in the same run. Every run is "
        "checked afterwards: every image at both destinations, tag and manifests byte for byte, every blob.",
        "",
        "**Load**: the machine (2 CPUs) is shared with other sessions' helpers while this runs; the load "
        "average before each run is in the last table, and the relays are Python on the same CPUs. Wall "
        "times are therefore noisy; compare tools within a round.",
        "",
        "## Targets (issue 19)",
        "",
        *targets(release, results, plan),
        "",
        "## Results (medians over the ok runs)",
        "",
        *table(release, results),
        *methods_table(results),
        *shard_steps(results),
        "",
        *micro_section(plan, plan_error),
        "## Every run (in execution order per tool)",
        "",
        *raw(results),
    ]
    return "\n".join(lines)
