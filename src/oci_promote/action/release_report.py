"""The job summary of the release modes: the plan and the commit as tables, and what failed.

Only results are read here (the plan, the commit's result, the lock), never HTTP; every
reference and message goes through `markdown.code`/`cell`, so nothing a registry or a file
holds can break a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..frontend.present import plural
from .markdown import cell, code, fenced

if TYPE_CHECKING:
    from ..forensics import VerifyOutcome
    from ..release import CommitResult, LockFile, PlanFile, StageResult

#: Above this many entries the plan's table shows the first ones and says how many are left out
#: (a job summary holds 1 MiB; the plan itself is in the step's `plan` output).
MAX_ROWS = 200


def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def plan_summary(plan: PlanFile, *, heading: str = "oci-promote: plan") -> str:
    """The plan's rows as the CLI prints them (`PlanFile.table`), its totals, every problem."""
    header, *rows = plan.table()
    lines = [
        f"### {heading}",
        "",
        cell(plan.summary()) + ".",
        "",
        "| " + " | ".join(h.capitalize() for h in header) + " |",
        "|" + "---|" * len(header),
    ]
    # Source and digest as code; the rest (numbers, sizes, K/N) as plain cells.
    lines += [
        "| " + " | ".join(code(c) if i in (1, 2) else cell(c) for i, c in enumerate(row)) + " |"
        for row in rows[:MAX_ROWS]
    ]
    if len(rows) > MAX_ROWS:
        lines.append(f"| | *{len(rows) - MAX_ROWS} more* |" + " |" * (len(header) - 2))
    if plan.problems:
        lines += ["", "| Problem |", "|---|", *(f"| {cell(p)} |" for p in plan.problems)]
    lines += _throttled({t.registry: (t.pauses, t.seconds) for t in plan.throttled})
    return "\n".join(lines)


def stage_summary(staged: StageResult, shard: str) -> str:
    # Here, not above: `action.main` imports this module for every mode, and copy loads no release/.
    from ..release.model import human_size

    return "\n".join(
        [
            f"### oci-promote: shard {cell(shard)} staged" if shard else "### oci-promote: staged",
            "",
            "| Entries | Blobs copied | Mounted | Bytes sent | Manifests | Referrers | Seconds |",
            "|--:|--:|--:|--:|--:|--:|--:|",
            f"| {staged.entries} | {staged.blobs_copied} | {staged.blobs_mounted} "
            f"| {human_size(staged.bytes_copied)} "
            f"| {staged.manifests_pushed} | {staged.referrers_copied} | {staged.seconds:.1f} |",
            "",
            "No tag moved: `commit` moves them once every shard is staged.",
            *_throttled(staged.throttled),
        ]
    )


def commit_summary(result: CommitResult, lock_path: str, lock_text: str) -> str:
    """Each image's digest and its pinned destinations; what moved; the lock file itself."""
    lock = result.lock
    lines = [
        "### oci-promote: committed",
        "",
        f"{plural(len(lock.images), 'image')}: {plural(len(result.moved), 'tag')} moved, "
        f"{result.kept} already held their digest. Lock file: {code(lock_path)}.",
        "",
        "| Source | Digest | Pinned destinations | Referrers |",
        "|---|---|---|--:|",
    ]
    for image in lock.images[:MAX_ROWS]:
        pinned = "<br>".join(code(d.pinned) for d in image.destinations)
        lines.append(f"| {code(image.source)} | {code(image.digest)} | {pinned} | {len(image.referrers)} |")
    if len(lock.images) > MAX_ROWS:
        lines.append(f"| *{len(lock.images) - MAX_ROWS} more: see the lock file* | | | |")
    lines += _throttled(result.throttled)
    lines += ["", "<details><summary>The lock file</summary>", "", fenced(lock_text), "", "</details>"]
    return "\n".join(lines)


def missing_summary(message: str, missing: Sequence[tuple[int, int, str]]) -> str:
    """`commit` refused: which entries, shards and repositories lack their digest."""
    lines = ["### oci-promote: commit refused, no tag moved", "", fenced(message)]
    if missing:
        lines += ["", "| Entry | Shard | Destination repository |", "|--:|--:|---|"]
        lines += [f"| {entry} | {shard} | {code(repo)} |" for entry, shard, repo in missing[:MAX_ROWS]]
        shards = sorted({shard for _, shard, _ in missing})
        lines += ["", f"Re-run the stage job of shard(s) {', '.join(map(str, shards))}, then commit again."]
    return "\n".join(lines)


def lock_verify_summary(outcomes: Sequence[VerifyOutcome]) -> str:
    verified = all(o.ok for o in outcomes)
    heading = "oci-promote: lock verified" if verified else "oci-promote: lock verification failed"
    lines = [
        f"### {heading}",
        "",
        "| Reference | Locked digest | Resolves to | Holds it |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {code(o.reference)} | {code(o.expected)} | {code(o.digest) if o.digest else 'nothing'} "
        f"| {'yes' if o.ok else 'no'} |"
        for o in outcomes
    ]
    for outcome in outcomes:
        if not outcome.ok:
            lines += ["", f"#### {cell(outcome.reference)}", "", fenced(outcome.describe())]
    return "\n".join(lines)


def failure_summary(mode: str, message: str) -> str:
    return "\n".join([f"### oci-promote: {mode} failed", "", fenced(message)])


def _throttled(throttled: dict[str, tuple[int, float]] | None) -> list[str]:
    if not throttled:
        return []
    rows = [f"| {code(r)} | {n} | {s:.1f} |" for r, (n, s) in throttled.items()]
    return [
        "",
        "Throttled (429 with Retry-After):",
        "",
        "| Registry | Pauses | Seconds |",
        "|---|--:|--:|",
        *rows,
    ]


def locked_references(lock: LockFile) -> list[str]:
    return [d.pinned for image in lock.images for d in image.destinations]
