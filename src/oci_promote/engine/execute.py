"""The executor: runs a plan with bounded concurrency, in dependency order, tags last.

Each phase (blobs, each wave of child manifests, top manifests by digest,
tags) finishes everywhere before the next starts, so a failure before the tag
phase leaves every tag where it was. The first error cancels the phase's other
jobs (and their upload sessions) and names the destination it happened at,
followed by what the failure left behind: no tag moved, or which tags did.
Each blob is read from the source once for all the destinations that copy it
(`blob_fanout`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import anyio

from ..concurrency import Job, run_all
from ..errors import DigestMismatchError, PromoteError
from ..events import BlobDone, BlobProgress, BlobStarted, EventCallback, ManifestPushed, TagMoved
from ..result import DestinationResult
from ..storage import BodyFactory, Storage
from ..storage.source import Source, at_digest
from ..storage.verified import verified_blob
from ..types.digest import Digest
from ..types.media import Descriptor, Manifest
from .fanout import Consumer, fan_out
from .graph import ImageGraph
from .plan import Plan, RepositoryPlan

log = logging.getLogger("oci_promote")
NOTHING_MOVED = "no tag was moved"


@dataclass
class Target:
    """One destination as the executor sees it."""

    label: str
    storage: Storage
    #: The tag, or the digest's text for a destination pinned by digest.
    target: str
    result: DestinationResult
    #: Its tag (or pinned digest) points at the image now: the tag phase wrote it.
    moved: bool = False


async def execute(
    plan: Plan,
    graph: ImageGraph,
    source: Storage,
    targets: list[Target],
    limiter: anyio.CapacityLimiter,
    emit: EventCallback,
    before_tags: Job | None = None,
) -> None:
    """Run the plan; `before_tags` (the referrers' writes) runs after every manifest by digest
    and before the first tag moves."""
    top = plan.top
    working = [(r, targets[r.worker]) for r in plan.repositories if r.worker is not None]

    await run_all(_blob_jobs(source, working, emit), limiter)
    for wave in graph.waves(graph.children):
        jobs = (
            _at(d, partial(_push_manifest, d, m, str(m.digest), emit, child=True))
            for r, d in working
            for m in wave
            if m in r.children
        )
        await run_all(jobs, limiter)
    await run_all(
        (
            _at(d, partial(_push_manifest, d, top, str(top.digest), emit))
            for r, d in working
            if r.top_by_digest
        ),
        limiter,
    )
    if before_tags is not None:
        await before_tags()

    def moved_note() -> str:
        moved = [t.label for t in targets if t.moved]
        return f"tags already moved: {', '.join(moved)}" if moved else NOTHING_MOVED

    jobs = (
        _at(targets[i], partial(_move_tag, targets[i], top, t, emit), moved_note)
        for r, _ in working
        for i, t in r.targets
    )
    await run_all(jobs, limiter)


async def _move_tag(dest: Target, top: Manifest, target: str, emit: EventCallback) -> None:
    await _push_manifest(dest, top, target, emit)
    dest.moved = True
    if target != str(top.digest):
        emit(TagMoved(dest.label, target, str(top.digest)))


async def verify(
    targets: Iterable[Target], source: Source, digest: Digest, limiter: anyio.CapacityLimiter
) -> None:
    """Resolve every written destination again: it must give the source digest, else say why not."""
    await run_all((partial(_verify_one, d, source, digest) for d in targets), limiter)


async def _verify_one(dest: Target, source: Source, digest: Digest) -> None:
    try:
        got = await dest.storage.resolve(dest.target)
        if got != digest:
            raise await _served_other(dest, got, source, digest)
    except PromoteError as e:
        e.at_destination(dest.label)
        raise
    log.info("%s resolves to %s", dest.label, got)


async def _served_other(dest: Target, got: Digest | None, source: Source, digest: Digest) -> PromoteError:
    """The error for a destination that serves another image after the push, with the causes."""
    message = f"{dest.label} resolves to {got or 'nothing'} after the push, but the source is {digest}"
    if got is None:
        return DigestMismatchError(message, expected=str(digest), got="nothing")
    from ..forensics.mismatch import explain_mismatch  # the forensics load only on a mismatch

    roles = "A = the source, B = what the destination serves"
    why = await explain_mismatch(source, at_digest(dest.storage, got), roles, str(digest))
    return DigestMismatchError(
        f"{message}; {why.clause}", expected=str(digest), got=str(got), comparison=why.comparison
    )


def _at(dest: Target, job: Job, note: Callable[[], str] = lambda: NOTHING_MOVED) -> Job:
    """The job, its errors naming the destination and what the failure left behind."""

    async def run() -> None:
        try:
            await job()
        except PromoteError as e:
            e.at_destination(dest.label, note())
            raise

    return run


def _blob_jobs(
    source: Storage, working: list[tuple[RepositoryPlan, Target]], emit: EventCallback
) -> list[Job]:
    """One job per distinct blob to copy, reading the source once for every destination that
    copies it (`fan_out`), and one per blob a destination may mount; the largest first.

    A fan-out job holds one place of the jobs limiter however many destinations it feeds
    (the uploads inside take none, so nothing waits for a place its own job holds): `jobs`
    bounds the source streams, and each destination still gets at most `jobs` uploads.
    """
    jobs: list[tuple[int, Job]] = []
    copies: dict[Digest, tuple[Descriptor, list[Target]]] = {}
    for repository, dest in working:
        for move in repository.blobs:
            blob = move.descriptor
            if move.mount:
                body = partial(verified_blob, source, blob, _progress(dest, blob, emit))
                jobs.append((blob.size, _at(dest, partial(_put_blob, dest, blob, body, emit, source))))
            else:
                copies.setdefault(blob.digest, (blob, []))[1].append(dest)
    for blob, dests in copies.values():
        jobs.append((blob.size, _fan_out_job(source, blob, dests, emit)))
    return [job for _, job in sorted(jobs, key=lambda j: -j[0])]


def _fan_out_job(source: Storage, blob: Descriptor, dests: list[Target], emit: EventCallback) -> Job:
    """One verified source read of `blob` for every destination; each one's errors name it,
    and a retried upload re-reads the source with its own progress."""

    def consumer(dest: Target) -> Consumer:
        report = _progress(dest, blob, emit)
        return Consumer(
            lambda body: _at(dest, partial(_put_blob, dest, blob, body, emit))(),
            partial(verified_blob, source, blob, report),
            report,
        )

    readers = [consumer(d) for d in dests]
    return partial(fan_out, partial(verified_blob, source, blob, _quiet), readers, size=blob.size)


def _progress(dest: Target, blob: Descriptor, emit: EventCallback) -> Callable[[int], None]:
    digest = str(blob.digest)
    return lambda sent: emit(BlobProgress(dest.label, digest, sent, blob.size))


def _quiet(sent: int) -> None:
    """The shared read reports nothing itself: each destination's stream reports what it got."""


async def _put_blob(
    dest: Target, blob: Descriptor, body: BodyFactory, emit: EventCallback, mount_from: Storage | None = None
) -> None:
    """Store one blob at one destination, with its events and its counts."""
    digest = str(blob.digest)
    emit(BlobStarted(dest.label, digest, blob.size))
    how = await dest.storage.put_blob(blob, body, mount_from=mount_from)
    dest.result.count_blob(how, blob.size)
    emit(BlobDone(dest.label, digest, blob.size, how))


async def _push_manifest(
    dest: Target, manifest: Manifest, target: str, emit: EventCallback, *, child: bool = False
) -> None:
    echoed = await dest.storage.put_manifest(target, manifest.raw, manifest.media_type, child=child)
    if echoed and echoed != str(manifest.digest):
        raise DigestMismatchError(
            f"{dest.label}: the registry stored the manifest as {echoed}, not {manifest.digest}; "
            "it rewrote the bytes",
            expected=str(manifest.digest),
            got=echoed,
        )
    dest.result.manifests_pushed += 1
    kind = "index" if manifest.is_index else "manifest"
    where = dest.storage.description
    shown = f"{where}:{target}" if target != str(manifest.digest) else f"{where}@{manifest.digest.short}"
    log.info("pushed %s %s to %s", kind, manifest.digest.short, shown)
    emit(ManifestPushed(dest.label, str(manifest.digest), target, manifest.is_index))
