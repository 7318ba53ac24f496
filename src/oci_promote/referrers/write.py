"""Write each destination's referrers (the executor's ``before_tags`` step).

Blobs, manifests by digest, indexes, digest tags: in this order, after the image's
manifests and before any of its tags, so a tag never shows up at a destination without
the signatures the source had. Within each step the writes go out together: over a slow
link every sequential write is a round trip.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from functools import partial

import anyio

from ..concurrency import run_all
from ..errors import DigestMismatchError, ManifestError
from ..storage import Storage
from ..storage.verified import load_child, verified_blob
from ..types.digest import Digest, compute
from ..types.media import MAX_NESTING, Descriptor, parse_manifest
from .carry import DestinationReferrers
from .digest_tags import TagAction
from .index_merge import update_referrers_index
from .model import Referrer

log = logging.getLogger("oci_promote")


async def write_destination(source: Storage, plan: DestinationReferrers) -> None:
    """Blobs, manifests by digest, indexes, digest tags: in this order, before any image tag.

    Within each step the writes go out together (manifests depth by depth, so a signature
    on an SBOM follows the SBOM): over a slow link each sequential write is a round trip."""
    destination = plan.storage
    mount = destination.can_mount_from(source)
    contents = {r.digest: r for r in [*plan.manifests, *(r for r, _ in plan.tags)]}
    claimed: dict[Digest, anyio.Event] = {}  # a blob shared by referrers goes up once
    await run_all(
        partial(
            _copy_content, source, destination, r.manifest, r.descriptor.media_type, mount, claimed, depth=0
        )
        for r in contents.values()
    )
    for depth in sorted({r.depth for r in plan.manifests}):
        level = [r for r in plan.manifests if r.depth == depth]
        await run_all(partial(_put_manifests, destination, rs) for rs in _batches(level, by_subject=plan.api))
    # indexes and digest tags name manifests that are all there now: they go out together
    indexes = () if destination.indexes_referrers else plan.indexes  # else it lists them itself
    await run_all(
        [
            *(partial(_write_index, destination, plan, subject) for subject in indexes),
            *(partial(_write_digest_tag, destination, r, action) for r, action in plan.tags),
        ]
    )
    # how the destination lists them now: itself (OCI-Subject), or by the index just written
    indexed = {str(subject) for subject in plan.indexes}
    for entry in plan.entries:
        if entry.how != "digest-tag" and (destination.indexes_referrers or entry.subject in indexed):
            entry.how = "api" if destination.indexes_referrers else "tag-schema"


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


async def _put_manifests(destination: Storage, referrers: Sequence[Referrer]) -> None:
    for r in referrers:
        await _put_manifest(destination, r)


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


async def _write_index(destination: Storage, plan: DestinationReferrers, subject: Digest) -> None:
    # A destination without an index gets the source's own bytes (read by discovery)
    # when they list exactly ours, so both registries serve the same index (same digest).
    template = plan.new_indexes.get(subject) or None
    update = await update_referrers_index(destination, subject, plan.indexes[subject], template=template)
    log.info("%s: referrers index %s lists %d more", destination.description, update.tag, len(update.added))


async def _write_digest_tag(destination: Storage, r: Referrer, action: TagAction) -> None:
    assert r.tag is not None and action.manifest is not None
    if action.config is not None:
        await _put_small_blob(destination, action.config)
    await destination.put_manifest(r.tag, action.manifest, action.media_type)
    log.info("%s: digest tag %s: %s (%s)", destination.description, r.tag, action.action, action.reason)


async def _put_small_blob(destination: Storage, data: bytes) -> None:
    """A blob we made (a merged cosign config), unless the destination has it."""
    digest = compute(data)
    if await destination.has_blob(digest):
        return

    async def body() -> AsyncIterator[bytes]:
        yield data

    await destination.put_blob(Descriptor("application/octet-stream", digest, len(data)), body)


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

    blobs = {b.digest: b for b in manifest.blobs if not b.is_foreign}.values()
    await run_all(partial(_copy_blob, source, destination, b, mount, claimed) for b in blobs)


async def _copy_blob(
    source: Storage, destination: Storage, blob: Descriptor, mount: bool, claimed: dict[Digest, anyio.Event]
) -> None:
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


def _quiet(sent: int) -> None:
    """Referrer blobs are small: no progress events for them."""
