"""Carry an image's referrers to its destinations, inside the copy.

Three steps, each for a reason:

* :func:`find_referrers` at the source, before anything is written, so
  ``--require-referrer`` can refuse an unsigned image with nothing half-written;
* :func:`plan_destination` per destination repository, reads only: what is already
  there (the destination's tag schema index, its digest tags), and every digest tag
  conflict is raised here, before the first write anywhere;
* :func:`write_destination` between the image's manifests and its tags (the executor's
  ``before_tags`` step): blobs, manifests by digest, the merged ``<alg>-<hex>`` index
  (unless the destination indexes referrers itself), digest tags. So a tag never shows
  up at a destination without the signatures the source had.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial

from ..concurrency import Job, run_all
from ..digest import Digest, compute
from ..errors import DigestMismatchError, ManifestError, PromoteError
from ..execute import NOTHING_MOVED, Target, verified_blob
from ..graph import load_child
from ..media import Descriptor, parse_manifest
from ..plan import Plan
from ..result import ReferrerCopy
from ..storage import Storage
from .adapter import StorageReferrers
from .artifact_types import check_required, matches
from .digest_tags import TagAction, decide_digest_tag
from .discover import discover_referrers
from .index_merge import listed_digests, merge_index, update_referrers_index
from .model import Referrer, ReferrerDescriptor
from .naming import referrers_tag
from .store import StoredManifest

log = logging.getLogger("oci_promote")
#: How deep indexes may nest inside one referrer (an index of indexes of manifests is 2).
MAX_NESTING = 4


@dataclass(frozen=True)
class ReferrerOptions:
    """``CopyOptions.referrers`` / ``referrer_types`` / ``require_referrers``."""

    enabled: bool = True
    types: tuple[str, ...] = ()
    required: tuple[str, ...] = ()


async def find_referrers(
    source: Storage, subjects: Sequence[Digest], options: ReferrerOptions, where: str
) -> tuple[Referrer, ...]:
    """The referrers to carry (parents first); MissingReferrersError for a missing required type.

    Discovery is unfiltered so the requirement sees everything; the type filter then keeps
    the image's own referrers of those types and whatever hangs below them."""
    if not options.enabled and not options.required:
        return ()
    found = await discover_referrers(StorageReferrers(source), subjects)
    for note in found.skipped:
        log.info("%s: %s", where, note)
    check_required(where, [r for r in found.referrers if r.depth == 1], options.required)
    return select(found.referrers, options.types) if options.enabled else ()


def select(referrers: Sequence[Referrer], types: Sequence[str]) -> tuple[Referrer, ...]:
    kept: list[Referrer] = []
    digests: set[Digest] = set()
    for r in referrers:
        if (r.depth == 1 and matches(r, types)) or (r.depth > 1 and r.subject in digests):
            kept.append(r)
            digests.add(r.digest)
    return tuple(kept)


@dataclass
class DestinationReferrers:
    """What one destination repository lacks of the referrers, and what it will be told."""

    storage: Storage
    #: Referrer manifests to push by digest (with their blobs), parents first.
    manifests: list[Referrer] = field(default_factory=list)
    #: Subject -> descriptors to merge into its ``<alg>-<hex>`` index (it lacks some).
    indexes: dict[Digest, list[ReferrerDescriptor]] = field(default_factory=dict)
    #: Digest tags to write or merge, with the decision.
    tags: list[tuple[Referrer, TagAction]] = field(default_factory=list)
    entries: list[ReferrerCopy] = field(default_factory=list)
    #: Subjects whose index the destination does not have at all.
    new_indexes: set[Digest] = field(default_factory=set)

    @property
    def writes(self) -> bool:
        return bool(self.manifests or self.indexes or self.tags)


async def plan_destination(destination: Storage, referrers: Sequence[Referrer]) -> DestinationReferrers:
    """Read what the destination holds; DigestTagConflictError (or ReferrersError for a
    schema tag that is no index) before anything is written.

    The reads go out together (every index and digest tag, then every unlisted manifest):
    over a slow link each sequential read is a round trip."""
    plan = DestinationReferrers(destination)
    reader = StorageReferrers(destination)
    by_subject: dict[Digest, list[Referrer]] = {}
    for r in referrers:
        if r.how != "digest-tag":
            by_subject.setdefault(r.subject, []).append(r)
    tagged = [r for r in referrers if r.how == "digest-tag" and r.tag is not None]
    held: dict[str, StoredManifest | None] = {}

    def read(tag: str) -> Job:
        async def run() -> None:
            held[tag] = await reader.get_manifest(tag)

        return run

    await run_all(
        read(t) for t in {*(referrers_tag(s) for s in by_subject), *(r.tag for r in tagged if r.tag)}
    )
    listed = {
        subject: listed_digests(found.raw) if (found := held[referrers_tag(subject)]) else set()
        for subject in by_subject
    }
    unlisted = {r.digest for s, group in by_subject.items() for r in group if str(r.digest) not in listed[s]}
    present: set[Digest] = set()

    def ask(digest: Digest) -> Job:
        async def run() -> None:
            if await destination.has_manifest(str(digest)):
                present.add(digest)

        return run

    await run_all(ask(d) for d in unlisted)
    pushing: set[Digest] = set()
    for subject, group in by_subject.items():
        tag = referrers_tag(subject)
        existing = held[tag]
        ours = list({r.digest: r.descriptor for r in group}.values())
        if merge_index(existing.raw if existing else None, ours, tag=tag).raw is not None:
            plan.indexes[subject] = ours
            if existing is None:
                plan.new_indexes.add(subject)
        for r in group:
            there = str(r.digest) in listed[subject] or r.digest in present
            if not there and r.digest not in pushing:
                pushing.add(r.digest)
                plan.manifests.append(r)
            plan.entries.append(_entry(r, "tag-schema", "present" if there else "copied"))
    for r in tagged:
        assert r.tag is not None
        source = StoredManifest(r.manifest, r.descriptor.media_type)
        action = decide_digest_tag(r.tag, source, held[r.tag])
        if action.action != "keep":
            plan.tags.append((r, action))
        done = {"keep": "present", "write": "copied", "merge": "merged"}[action.action]
        plan.entries.append(_entry(r, "digest-tag", done))
    return plan


def _entry(r: Referrer, how: str, action: str) -> ReferrerCopy:
    return ReferrerCopy(str(r.digest), r.descriptor.artifact_type, str(r.subject), how, r.tag, action)


async def write_destination(source: Storage, plan: DestinationReferrers) -> None:
    """Blobs, manifests by digest, indexes, digest tags: in this order, before any image tag.

    Within each step the writes go out together (manifests depth by depth, so a signature
    on an SBOM follows the SBOM): over a slow link each sequential write is a round trip."""
    destination = plan.storage
    mount = destination.can_mount_from(source)
    contents = {r.digest: r for r in [*plan.manifests, *(r for r, _ in plan.tags)]}
    await run_all(_content_job(source, destination, r, mount) for r in contents.values())
    for depth in sorted({r.depth for r in plan.manifests}):
        await run_all(_manifest_job(destination, r) for r in plan.manifests if r.depth == depth)
    writer = StorageReferrers(destination)
    # indexes and digest tags name manifests that are all there now: they go out together
    indexes = () if destination.indexes_referrers else plan.indexes  # else it lists them itself
    await run_all(
        [
            *(_index_job(source, writer, plan, subject) for subject in indexes),
            *(_digest_tag_job(writer, r, action) for r, action in plan.tags),
        ]
    )
    if destination.indexes_referrers:  # it answered OCI-Subject
        for entry in plan.entries:
            if entry.how == "tag-schema":
                entry.how = "api"


def _content_job(source: Storage, destination: Storage, r: Referrer, mount: bool) -> Job:
    async def run() -> None:
        await _copy_content(source, destination, r.manifest, r.descriptor.media_type, mount, depth=0)

    return run


def _manifest_job(destination: Storage, r: Referrer) -> Job:
    async def run() -> None:
        echoed = await destination.put_manifest(str(r.digest), r.manifest, r.descriptor.media_type)
        if echoed and echoed != str(r.digest):
            raise DigestMismatchError(
                f"{destination.description}: the registry stored referrer {r.digest} as {echoed}",
                expected=str(r.digest),
                got=echoed,
            )
        log.info(
            "pushed referrer %s (%s) to %s",
            r.digest.short,
            r.descriptor.artifact_type,
            destination.description,
        )

    return run


def _index_job(source: Storage, writer: StorageReferrers, plan: DestinationReferrers, subject: Digest) -> Job:
    async def run() -> None:
        # A destination without an index gets the source's own bytes when they list exactly
        # ours, so both registries serve the same index (same digest).
        template = None
        if subject in plan.new_indexes:
            found = await StorageReferrers(source).get_manifest(referrers_tag(subject))
            template = found.raw if found else None
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
    source: Storage, destination: Storage, raw: bytes, media_type: str, mount: bool, *, depth: int
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
        await _copy_content(source, destination, loaded.raw, loaded.media_type, mount, depth=depth + 1)
        await destination.put_manifest(str(child.digest), loaded.raw, loaded.media_type, child=True)

    def blob_job(blob: Descriptor) -> Job:
        async def run() -> None:
            if await destination.has_blob(blob.digest):
                return
            body = partial(verified_blob, source, blob, _quiet)
            await destination.put_blob(blob, body, mount_from=source if mount else None)

        return run

    await run_all(blob_job(b) for b in {b.digest: b for b in manifest.blobs if not b.is_foreign}.values())


def _quiet(sent: int) -> None:
    """Referrer blobs are small: no progress events for them."""


async def plan_all(
    plan: Plan, targets: Sequence[Target], referrers: Sequence[Referrer]
) -> list[tuple[Target, DestinationReferrers]]:
    """One referrers plan per destination repository (its first destination counts it)."""
    if not referrers:
        return []
    chosen = [targets[r.members[0][0]] for r in plan.repositories]

    def job(n: int, out: list[DestinationReferrers | None]) -> Job:
        async def run() -> None:
            try:
                out[n] = await plan_destination(chosen[n].storage, referrers)
            except PromoteError as e:
                e.add_context(f"destination {chosen[n].label}", "nothing was written")
                raise

        return run

    found: list[DestinationReferrers | None] = [None] * len(chosen)
    await run_all(job(n, found) for n in range(len(chosen)))
    pairs = [(t, p) for t, p in zip(chosen, found, strict=True) if p is not None]
    for target, carried in pairs:
        target.result.referrers = carried.entries
        target.result.referrers_copied = sum(e.action != "present" for e in carried.entries)
        target.result.referrers_present = sum(e.action == "present" for e in carried.entries)
    return pairs


def image_first(plan: Plan, carried: Sequence[tuple[Target, DestinationReferrers]]) -> Plan:
    """Where referrers are written, the image goes there by digest before them (then tags)."""
    if not carried:
        return plan
    repositories = tuple(
        replace(r, top_by_digest=True) if r.worker is not None and c.writes else r
        for r, (_, c) in zip(plan.repositories, carried, strict=True)
    )
    return replace(plan, repositories=repositories)


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
