"""`stage`: push everything a shard's entries need by digest (blobs, child manifests, top
manifests, referrers), and move no tag.

Work is shared across the shard's entries, not only within one image:

- each distinct blob is read from a source once, and fanned out to every destination
  repository that lacks it (`engine.fanout`); within one destination registry it is
  uploaded to one repository and mounted into the others;
- one limiter bounds every entry's work together.

Each entry's image is read by its pinned digest, so a source tag moved after the plan changes
nothing here. Every destination is asked first what it holds (the engine's inventory), so a
shard run again sends nothing it already sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from ..concurrency import Job, run_all
from ..engine.execute import Target, execute
from ..engine.fanout import Consumer, fan_out
from ..engine.graph import ImageGraph
from ..engine.inventory import take_inventory
from ..engine.plan import Holdings, Plan, make_plan
from ..engine.referrers import plan_all, write_all
from ..errors import PromoteError
from ..events import ignore
from ..referrers.carry import ReferrerOptions
from ..referrers.model import Referrer
from ..result import DestinationResult
from ..storage import BodyFactory, Storage
from ..storage.verified import verified_blob
from ..types.digest import Digest
from ..types.media import Descriptor
from .images import read_image
from .model import PlannedEntry, note
from .session import Session

log = logging.getLogger("oci_promote")


@dataclass(frozen=True)
class ReleaseProgress:
    """One progress row: an entry done (`entry` set), or the running totals."""

    phase: str
    entries_done: int
    entries_total: int
    bytes_done: int
    bytes_total: int
    entry: str | None = None


ProgressCallback = Callable[[ReleaseProgress], None]


@dataclass
class StageResult:
    entries: int = 0
    blobs_copied: int = 0
    blobs_mounted: int = 0
    bytes_copied: int = 0
    manifests_pushed: int = 0
    referrers_copied: int = 0
    seconds: float = 0.0
    throttled: dict[str, tuple[int, float]] = field(default_factory=dict)


@dataclass
class _Entry:
    planned: PlannedEntry
    source: Storage
    graph: ImageGraph
    found: tuple[Referrer, ...]
    targets: list[Target]
    plan: Plan


async def stage_entries(
    entries: list[PlannedEntry], session: Session, on_progress: ProgressCallback | None = None
) -> StageResult:
    """Stage these entries (a shard, or the whole release for `apply`); no tag moves."""
    started = time.monotonic()
    loaded = await _load(entries, session)
    await _inventory(loaded, session)
    blobs = _shared_blobs(loaded)
    total = sum(b.size * len(dests) for b, _, dests in blobs.values())
    report = _Reporter(on_progress, len(loaded), total)
    await run_all((_blob_job(b, src, dests, report) for b, src, dests in blobs.values()), session.limiter)

    def finish(same_image: list[_Entry]) -> Job:
        # Entries of one image (several tags) go one after another: each plans its referrers
        # from what the destination holds, so the next finds them there instead of writing
        # them (and the tag schema index) a second time, concurrently, into one repository.
        async def run() -> None:
            for e in same_image:
                bare = replace(e.plan, repositories=tuple(replace(r, blobs=()) for r in e.plan.repositories))
                carried = await plan_all(bare, e.targets, e.found)
                before = write_all(e.source, carried)
                await execute(bare, e.graph, e.source, e.targets, session.limiter, ignore, before)
                report.entry_done(e.planned.label)

        return run

    by_image: dict[str, list[_Entry]] = {}
    for e in loaded:
        by_image.setdefault(str(e.graph.top.digest), []).append(e)
    await run_all(finish(group) for group in by_image.values())
    result = StageResult(entries=len(loaded), seconds=round(time.monotonic() - started, 3))
    for e in loaded:
        for t in e.targets:
            r = t.result
            result.blobs_copied += r.blobs_copied
            result.blobs_mounted += r.blobs_mounted
            result.bytes_copied += r.bytes_copied
            result.manifests_pushed += r.manifests_pushed
            result.referrers_copied += r.referrers_copied
    result.throttled = session.throttling()
    return result


async def _load(entries: list[PlannedEntry], session: Session) -> list[_Entry]:
    """Each entry's image read by its pinned digest, and its referrers found."""
    out: list[_Entry | None] = [None] * len(entries)

    def job(n: int, planned: PlannedEntry) -> Job:
        async def run() -> None:
            ref = planned.source_ref
            storage = session.source(ref)
            digest = planned.digest_value
            where = planned.pinned
            foreign = planned.include_foreign_layers
            options = ReferrerOptions(
                planned.referrers, tuple(planned.referrer_types), tuple(planned.require_referrers)
            )
            try:
                graph, referrers = await read_image(
                    session, storage, digest, where, foreign=foreign, options=[options]
                )
                found = referrers[options]
            except PromoteError as e:
                note(e, planned.label, "no tag was moved")
                raise
            targets = []
            for repo in planned.repositories():
                dest_ref = next(d.ref for d in planned.destinations if d.repository == repo)
                dest = session.destination(dest_ref, ref)
                label = f"{repo}@{digest.short}"
                result = DestinationResult(label, f"{repo}@{digest}", str(digest), None)
                targets.append(Target(label, dest, str(digest), result))
            empty = Plan(graph.top, ())
            out[n] = _Entry(planned, storage, graph, found, targets, empty)

        return run

    await run_all((job(n, e) for n, e in enumerate(entries)), session.lookups)
    return [e for e in out if e is not None]


async def _inventory(loaded: list[_Entry], session: Session) -> None:
    """Ask every destination repository what it holds of each image: the engine's plan per entry."""

    def job(e: _Entry) -> Job:
        async def run() -> None:
            digest = e.graph.top.digest
            graph = e.graph

            async def image() -> ImageGraph:
                return graph

            held: list[Holdings] = [Holdings({}) for _ in e.targets]

            def ask(n: int, t: Target) -> Job:
                async def run() -> None:
                    known = session.holdings.pop((t.storage.identity, t.target), None)
                    try:
                        held[n] = known or await take_inventory(
                            t.storage, [t.target], digest, image, session.lookups
                        )
                    except PromoteError as err:
                        err.at_destination(t.label, "no tag was moved")
                        note(err, e.planned.label)
                        raise

                return run

            await run_all(ask(n, t) for n, t in enumerate(e.targets))
            members = [[(i, t.target)] for i, t in enumerate(e.targets)]
            mountable = [t.storage.can_mount_from(e.source) for t in e.targets]
            e.plan = make_plan(graph, members, held, mountable)

        return run

    await run_all(job(e) for e in loaded)


BlobWork = tuple[Descriptor, Storage, list[tuple[Target, bool]]]


def _shared_blobs(loaded: list[_Entry]) -> dict[Digest, BlobWork]:
    """Each distinct blob: one source to read it from, and each destination repository that
    lacks it, once (with whether it can mount it from that source)."""
    out: dict[Digest, BlobWork] = {}
    seen: set[tuple[Digest, tuple[str, ...]]] = set()
    for e in loaded:
        for repository in e.plan.repositories:
            if repository.worker is None:
                continue
            target = e.targets[repository.worker]
            for move in repository.blobs:
                digest = move.descriptor.digest
                if (digest, target.storage.identity) in seen:
                    continue
                seen.add((digest, target.storage.identity))
                work = out.setdefault(digest, (move.descriptor, e.source, []))
                work[2].append((target, target.storage.can_mount_from(work[1])))
    return out


def _blob_job(blob: Descriptor, source: Storage, dests: list[tuple[Target, bool]], report: _Reporter) -> Job:
    """Mount where the source's registry allows; else one read of the source, fanned out to the
    first repository of each destination registry, then mounted into that registry's others."""

    async def put(dest: Target, body: BodyFactory, mount_from: Storage | None = None) -> None:
        how = await dest.storage.put_blob(blob, body, mount_from=mount_from)
        dest.result.count_blob(how, blob.size)
        report.bytes(blob.size)

    async def run() -> None:
        reread = partial(verified_blob, source, blob, _quiet)
        mounts = [d for d, can in dests if can]
        rest = [d for d, can in dests if not can]
        firsts: dict[tuple[str, ...], Target] = {}
        later: list[tuple[Target, Target]] = []
        for d in rest:
            key = d.storage.identity[:-1]  # the registry
            if key in firsts and d.storage.can_mount_from(firsts[key].storage):
                later.append((d, firsts[key]))
            else:
                firsts.setdefault(key, d)
        jobs: list[Job] = [partial(put, d, reread, source) for d in mounts]
        if firsts:
            consumers = [Consumer(partial(put, d), reread, _quiet) for d in firsts.values()]
            jobs.append(partial(fan_out, reread, consumers))
        await run_all(jobs)
        await run_all(partial(put, d, reread, first.storage) for d, first in later)

    return run


def _quiet(sent: int) -> None:
    """Progress is counted per blob done, not per chunk."""


class _Reporter:
    def __init__(self, on_progress: ProgressCallback | None, entries: int, total: int) -> None:
        self.on_progress = on_progress
        self.entries, self.total = entries, total
        self.done = self.sent = 0

    def bytes(self, size: int) -> None:
        self.sent += size

    def entry_done(self, label: str) -> None:
        self.done += 1
        log.debug("staged %s", label)
        if self.on_progress is not None:
            self.on_progress(ReleaseProgress("stage", self.done, self.entries, self.sent, self.total, label))
