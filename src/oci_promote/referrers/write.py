"""Write each destination's referrers (the executor's ``before_tags`` step).

Blobs, manifests by digest, indexes, digest tags: in this order, after the image's
manifests and before any of its tags, so a tag never shows up at a destination without
the signatures the source had. Within each step the writes go out together: over a slow
link every sequential write is a round trip.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

import anyio

from ..concurrency import Job, run_all
from ..engine.execute import NOTHING_MOVED, Target, verified_blob
from ..engine.graph import load_child
from ..errors import DigestMismatchError, ManifestError, PromoteError
from ..storage import Storage
from ..types.digest import Digest, compute
from ..types.media import Descriptor, parse_manifest
from .adapter import StorageReferrers
from .carry import DestinationReferrers
from .digest_tags import TagAction
from .index_merge import update_referrers_index
from .model import Referrer

log = logging.getLogger("oci_promote")
#: How deep indexes may nest inside one referrer (an index of indexes of manifests is 2).
MAX_NESTING = 4


async def write_destination(source: Storage, plan: DestinationReferrers) -> None:
    """Blobs, manifests by digest, indexes, digest tags: in this order, before any image tag.

    Within each step the writes go out together (manifests depth by depth, so a signature
    on an SBOM follows the SBOM): over a slow link each sequential write is a round trip."""
    destination = plan.storage
    mount = destination.can_mount_from(source)
    contents = {r.digest: r for r in [*plan.manifests, *(r for r, _ in plan.tags)]}
    claimed: dict[Digest, anyio.Event] = {}  # a blob shared by referrers goes up once
    await run_all(_content_job(source, destination, r, mount, claimed) for r in contents.values())
    for depth in sorted({r.depth for r in plan.manifests}):
        level = [r for r in plan.manifests if r.depth == depth]
        await run_all(_manifests_job(destination, rs) for rs in _batches(level, by_subject=plan.api))
    writer = StorageReferrers(destination)
    # indexes and digest tags name manifests that are all there now: they go out together
    indexes = () if destination.indexes_referrers else plan.indexes  # else it lists them itself
    await run_all(
        [
            *(_index_job(writer, plan, subject) for subject in indexes),
            *(_digest_tag_job(writer, r, action) for r, action in plan.tags),
        ]
    )
    # how the destination lists them now: itself (OCI-Subject), or by the index just written
    indexed = {str(subject) for subject in plan.indexes}
    for entry in plan.entries:
        if entry.how != "digest-tag" and (destination.indexes_referrers or entry.subject in indexed):
            entry.how = "api" if destination.indexes_referrers else "tag-schema"


def _content_job(
    source: Storage, destination: Storage, r: Referrer, mount: bool, claimed: dict[Digest, anyio.Event]
) -> Job:
    async def run() -> None:
        await _copy_content(source, destination, r.manifest, r.descriptor.media_type, mount, claimed, depth=0)

    return run


def _batches(level: Sequence[Referrer], *, by_subject: bool) -> list[list[Referrer]]:
    """Referrers to PUT one after another: with the referrers API, those of one subject (the
    registry updates that subject's list on each PUT, and olareg v0.1.2, for one, loses an
    entry when two such PUTs overlap); otherwise each alone, all at once."""
    if not by_subject:
        return [[r] for r in level]
    groups: dict[Digest, list[Referrer]] = {}
    for r in level:
        groups.setdefault(r.subject, []).append(r)
    return list(groups.values())


def _manifests_job(destination: Storage, referrers: Sequence[Referrer]) -> Job:
    async def run() -> None:
        for r in referrers:
            await _put_manifest(destination, r)

    return run


async def _put_manifest(destination: Storage, r: Referrer) -> None:
    echoed = await destination.put_manifest(str(r.digest), r.manifest, r.descriptor.media_type)
    if echoed and echoed != str(r.digest):
        raise DigestMismatchError(
            f"{destination.description}: the registry stored referrer {r.digest} as {echoed}",
            expected=str(r.digest),
            got=echoed,
        )
    log.info(
        "pushed referrer %s (%s) to %s", r.digest.short, r.descriptor.artifact_type, destination.description
    )


def _index_job(writer: StorageReferrers, plan: DestinationReferrers, subject: Digest) -> Job:
    async def run() -> None:
        # A destination without an index gets the source's own bytes (read by discovery)
        # when they list exactly ours, so both registries serve the same index (same digest).
        template = plan.new_indexes.get(subject) or None
        update = await update_referrers_index(writer, subject, plan.indexes[subject], template=template)
        log.info(
            "%s: referrers index %s lists %d more", writer.storage.description, update.tag, len(update.added)
        )

    return run


def _digest_tag_job(writer: StorageReferrers, r: Referrer, action: TagAction) -> Job:
    async def run() -> None:
        assert r.tag is not None and action.manifest is not None
        if action.config is not None:
            await writer.put_blob(compute(action.config), action.config)
        await writer.storage.put_manifest(r.tag, action.manifest, action.media_type)
        log.info(
            "%s: digest tag %s: %s (%s)", writer.storage.description, r.tag, action.action, action.reason
        )

    return run


async def _copy_content(
    source: Storage,
    destination: Storage,
    raw: bytes,
    media_type: str,
    mount: bool,
    claimed: dict[Digest, anyio.Event],
    *,
    depth: int,
) -> None:
    """What a referrer manifest needs at the destination before it: its blobs, and for a
    referrer that is an index, its child manifests (by digest, bytes verified) first."""
    manifest = parse_manifest(raw, declared=media_type)
    if depth > MAX_NESTING:
        raise ManifestError(f"referrer {manifest.digest} nests indexes deeper than {MAX_NESTING}")
    for child in manifest.children:
        if await destination.has_manifest(str(child.digest)):
            continue
        loaded = await load_child(source, child, source.description)
        await _copy_content(
            source, destination, loaded.raw, loaded.media_type, mount, claimed, depth=depth + 1
        )
        await destination.put_manifest(str(child.digest), loaded.raw, loaded.media_type, child=True)

    def blob_job(blob: Descriptor) -> Job:
        async def run() -> None:
            if blob.digest in claimed:  # another referrer's job sends it: wait for it
                await claimed[blob.digest].wait()
                return
            claimed[blob.digest] = done = anyio.Event()
            try:
                if not await destination.has_blob(blob.digest):
                    body = partial(verified_blob, source, blob, _quiet)
                    await destination.put_blob(blob, body, mount_from=source if mount else None)
            finally:
                done.set()

        return run

    await run_all(blob_job(b) for b in {b.digest: b for b in manifest.blobs if not b.is_foreign}.values())


def _quiet(sent: int) -> None:
    """Referrer blobs are small: no progress events for them."""


def write_all(source: Storage, carried: Sequence[tuple[Target, DestinationReferrers]]) -> Job:
    """The executor's `before_tags` step: every destination's referrers, concurrently."""

    def at(target: Target, plan: DestinationReferrers) -> Job:
        async def run() -> None:
            try:
                await write_destination(source, plan)
            except PromoteError as e:
                e.add_context(f"destination {target.label}", NOTHING_MOVED)
                raise

        return run

    async def run() -> None:
        await run_all(at(t, c) for t, c in carried if c.writes)

    return run
