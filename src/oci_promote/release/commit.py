"""`commit`: check that every destination holds every planned digest, then move every tag.

All-or-nothing across the release, as far as registries allow: every check (a HEAD by digest
at every destination repository, every tag resolved again) comes before the first tag PUT.
If a digest is missing (a shard that did not run, or failed), commit refuses, names the
entries and their shards, and moves nothing. A protected tag that moved since the plan is
refused the same way. A tag that already holds the digest is never PUT again (ECR's
immutable tags refuse even a same-digest PUT). After the moves, every tag is resolved once
more; the lock lists what was verified.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from ..concurrency import Job, run_all
from ..errors import DigestMismatchError, PromoteError, ProtectedTagError
from ..storage.verified import load_top
from ..types.digest import Digest, parse_digest
from ..types.media import Manifest
from .file import LockDestination, LockFile, LockImage
from .model import PlanFile, PlannedDestination, PlannedEntry, note
from .session import Session
from .stage import ProgressCallback, ReleaseProgress

log = logging.getLogger("oci_promote")


class IncompleteReleaseError(PromoteError):
    """Some planned digest is missing at some destination; no tag was moved."""

    def __init__(self, message: str, *, missing: list[tuple[int, int, str]]) -> None:
        #: (entry id, shard, destination repository) of each digest not found.
        self.missing = missing
        super().__init__(message)


@dataclass
class CommitResult:
    lock: LockFile
    #: `repository:tag` of every tag moved (new tags included).
    moved: list[str] = field(default_factory=list)
    #: Tags that already held their digest (not PUT again).
    kept: int = 0
    throttled: dict[str, tuple[int, float]] = field(default_factory=dict)


async def commit_entries(
    plan: PlanFile, session: Session, on_progress: ProgressCallback | None = None
) -> CommitResult:
    entries = plan.entries
    held, now = await _check(entries, session)
    _refuse_missing(plan, held)
    _refuse_protected(entries, now)
    tops = await _tops(entries, session)
    moved: list[str] = []
    kept = 0
    jobs: list[Job] = []
    for e in entries:
        for d in e.destinations:
            if d.tag is None:
                continue
            if now[(e.id, d.reference)] == e.digest_value:
                kept += 1
                continue
            jobs.append(_move(e, d, tops[(d.repository, e.digest)], session, moved))
    try:
        await run_all(jobs, session.lookups)
    except PromoteError as err:
        err.tags_moved = tuple(moved)
        note(err, "commit", f"tags already moved: {', '.join(moved)}" if moved else "no tag was moved")
        raise
    await _verify(entries, session)
    if on_progress is not None:
        total = len(entries)
        on_progress(ReleaseProgress("commit", total, total, 0, 0))
    return CommitResult(lock_of(plan), moved, kept, session.throttling())


async def _check(
    entries: list[PlannedEntry], session: Session
) -> tuple[dict[tuple[int, str], bool], dict[tuple[int, str], Digest | None]]:
    """Every (entry, destination repository): holds the digest? Every tag: what it holds now."""
    held: dict[tuple[int, str], bool] = {}
    now: dict[tuple[int, str], Digest | None] = {}

    def has(e: PlannedEntry, d: PlannedDestination) -> Job:
        async def run() -> None:
            held[(e.id, d.repository)] = await session.destination(d.ref).has_manifest(e.digest)

        return run

    def tag(e: PlannedEntry, d: PlannedDestination) -> Job:
        async def run() -> None:
            assert d.tag is not None
            now[(e.id, d.reference)] = await session.destination(d.ref).resolve(d.tag)

        return run

    jobs: list[Job] = []
    for e in entries:
        firsts = {d.repository: d for d in e.destinations}
        jobs.extend(has(e, d) for d in firsts.values())
        jobs.extend(tag(e, d) for d in e.destinations if d.tag)
    await run_all(jobs, session.lookups)
    return held, now


def _refuse_missing(plan: PlanFile, held: dict[tuple[int, str], bool]) -> None:
    by_id = {e.id: e for e in plan.entries}
    missing = [(i, by_id[i].shard, repo) for (i, repo), ok in held.items() if not ok]
    if not missing:
        return
    missing.sort()
    shards = sorted({s for _, s, _ in missing})
    named = "; ".join(f"{by_id[i].label} (shard {s}/{plan.shards}) at {repo}" for i, s, repo in missing[:10])
    more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    runs = ", ".join(f"{s}/{plan.shards}" for s in shards)
    raise IncompleteReleaseError(
        f"refusing to commit: {len(missing)} planned digest(s) missing at their destination: {named}{more}; "
        f"stage shard(s) {runs} first (oci-promote stage PLAN --shard K/N); no tag was moved",
        missing=missing,
    )


def _refuse_protected(entries: list[PlannedEntry], now: dict[tuple[int, str], Digest | None]) -> None:
    """A protected tag must hold nothing, or the digest; one that moved since the plan is named."""
    for e in entries:
        for d in e.destinations:
            if not d.tag or not any(fnmatchcase(d.tag, p) for p in e.protect):
                continue
            current = now[(e.id, d.reference)]
            if current is None or current == e.digest_value:
                continue
            since = "" if str(current) == d.current else f" (it held {d.current or 'nothing'} at plan time)"
            raise ProtectedTagError(
                f"{e.label}: destination {d.reference}: tag {d.tag} is protected and holds {current}{since}; "
                f"refusing to move it to {e.digest}; no tag was moved",
                tag=d.tag,
                current=str(current),
                new=e.digest,
            )


async def _tops(entries: list[PlannedEntry], session: Session) -> dict[tuple[str, str], Manifest]:
    """The top manifest bytes of each (repository, digest) to tag, read back by digest once."""
    out: dict[tuple[str, str], Manifest] = {}
    wanted: dict[tuple[str, str], PlannedDestination] = {}
    for e in entries:
        # read in this process already (`apply`): the plan's graph has the bytes
        graph = None
        if session.graphs:  # never open the source otherwise: a commit job may not reach it
            source = session.source(e.source_ref).identity
            graph = session.graphs.get((source, e.digest, e.include_foreign_layers))
        for d in e.destinations:
            if d.tag and graph is not None:
                out[(d.repository, e.digest)] = graph.top
            elif d.tag:
                wanted.setdefault((d.repository, e.digest), d)

    def job(key: tuple[str, str], d: PlannedDestination) -> Job:
        async def run() -> None:
            digest = parse_digest(key[1])
            out[key] = await load_top(session.destination(d.ref), key[1], digest, d.pinned(key[1]))

        return run

    await run_all((job(k, d) for k, d in wanted.items()), session.lookups)
    return out


def _move(e: PlannedEntry, d: PlannedDestination, top: Manifest, session: Session, moved: list[str]) -> Job:
    async def run() -> None:
        assert d.tag is not None
        storage = session.destination(d.ref)
        echoed = await storage.put_manifest(d.tag, top.raw, top.media_type)
        if echoed and echoed != e.digest:
            raise DigestMismatchError(
                f"{d.reference}: the registry stored the manifest as {echoed}, not {e.digest}",
                expected=e.digest,
                got=echoed,
            )
        moved.append(d.reference)
        log.debug("%s -> %s", d.reference, e.digest)

    return run


async def _verify(entries: list[PlannedEntry], session: Session) -> None:
    def job(e: PlannedEntry, d: PlannedDestination) -> Job:
        async def run() -> None:
            assert d.tag is not None
            got = await session.destination(d.ref).resolve(d.tag)
            if got != e.digest_value:
                raise DigestMismatchError(
                    f"{d.reference} resolves to {got or 'nothing'} after the commit, not {e.digest}",
                    expected=e.digest,
                    got=str(got),
                )

        return run

    await run_all((job(e, d) for e in entries for d in e.destinations if d.tag), session.lookups)


def lock_of(plan: PlanFile) -> LockFile:
    """The lock: each entry's source, digest, pinned destinations and referrers."""
    images = [
        LockImage(
            source=e.source,
            digest=e.digest,
            destinations=[
                LockDestination(reference=d.reference, pinned=d.pinned(e.digest)) for d in e.destinations
            ],
            referrers=list(e.referrer_digests),
        )
        for e in plan.entries
    ]
    return LockFile(version=1, images=images)
