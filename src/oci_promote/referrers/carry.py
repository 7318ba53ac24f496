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

The top manifest is not pushed by digest before its referrers (only child manifests are):
the spec makes a registry accept a manifest whose ``subject`` does not exist yet
("Pushing Manifests", distribution-spec 1.1: "in either order"), and the image's tag PUT,
which creates the top manifest, still comes after every referrer write. A second PUT of the
same bytes by digest would buy no guarantee and cost a request per destination.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from ..concurrency import Job, run_all
from ..digest import Digest, compute
from ..errors import DigestMismatchError, ManifestError, PromoteError
from ..execute import NOTHING_MOVED, Target, verified_blob
from ..graph import load_child
from ..media import parse_manifest
from ..plan import Plan
from ..result import ReferrerCopy
from ..storage import Storage
from .adapter import StorageReferrers
from .artifact_types import check_required, matches
from .digest_tags import TagAction, decide_digest_tag
from .discover import ApiMemory, api_listing, discover_referrers
from .http_answers import ApiUnavailable
from .index_merge import listed_digests, merge_index, update_referrers_index
from .model import How, Referrer, ReferrerDescriptor
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

    @property
    def writes(self) -> bool:
        return bool(self.manifests or self.indexes or self.tags)


async def plan_destination(destination: Storage, referrers: Sequence[Referrer]) -> DestinationReferrers:
    """Read what the destination holds; DigestTagConflictError (or ReferrersError for a
    schema tag that is no index) before anything is written.

    A destination with the referrers API is asked through it (one GET per subject): what it
    lists is there, and no tag schema index is planned unless a referrer must be pushed (in
    case its PUT then gets no ``OCI-Subject``). So a no-op re-run writes nothing there."""
    plan = DestinationReferrers(destination)
    reader = StorageReferrers(destination)
    by_subject: dict[Digest, list[Referrer]] = {}
    for r in referrers:
        if r.how != "digest-tag":
            by_subject.setdefault(r.subject, []).append(r)
    pushing: set[Digest] = set()
    memory = ApiMemory()
    for subject, group in by_subject.items():
        ours = list({r.digest: r.descriptor for r in group}.values())
        listed, how = await _listed_at(reader, subject, memory)
        if how == "api":
            lacking = [d for d in ours if str(d.digest) not in listed]
            if lacking:
                plan.indexes[subject] = ours
        else:
            tag = referrers_tag(subject)
            existing = await reader.get_manifest(tag)
            if merge_index(existing.raw if existing else None, ours, tag=tag).raw is not None:
                plan.indexes[subject] = ours
            listed = listed_digests(existing.raw) if existing else set()
        for r in group:
            there = str(r.digest) in listed or await destination.has_manifest(str(r.digest))
            if not there and r.digest not in pushing:
                pushing.add(r.digest)
                plan.manifests.append(r)
            plan.entries.append(_entry(r, how, "present" if there else "copied"))
    for r in referrers:
        if r.how == "digest-tag" and r.tag is not None:
            source = StoredManifest(r.manifest, r.descriptor.media_type)
            action = decide_digest_tag(r.tag, source, await reader.get_manifest(r.tag))
            if action.action != "keep":
                plan.tags.append((r, action))
            done = {"keep": "present", "write": "copied", "merge": "merged"}[action.action]
            plan.entries.append(_entry(r, "digest-tag", done))
    return plan


async def _listed_at(reader: StorageReferrers, subject: Digest, memory: ApiMemory) -> tuple[set[str], How]:
    """The digests the destination's referrers API lists for ``subject``, or "no API"
    (asked once per destination: a registry without it says so for every subject)."""
    if not memory.knows_absent(reader.registry_key):
        answer = await api_listing(reader, subject, frozenset())
        if not isinstance(answer, ApiUnavailable):
            return {str(d.digest) for d in answer}, "api"
        memory.remember_absent(reader.registry_key, answer.reason)
    return set(), "tag-schema"


def _entry(r: Referrer, how: str, action: str) -> ReferrerCopy:
    return ReferrerCopy(str(r.digest), r.descriptor.artifact_type, str(r.subject), how, r.tag, action)


async def write_destination(source: Storage, plan: DestinationReferrers) -> None:
    """Blobs, manifests by digest, indexes, digest tags: in this order, before any image tag."""
    destination = plan.storage
    mount = destination.can_mount_from(source)
    for r in plan.manifests:
        await _copy_blobs(source, destination, r, mount)
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
    writer = StorageReferrers(destination)
    for subject, ours in plan.indexes.items():
        if destination.indexes_referrers:
            continue  # it answered OCI-Subject: it lists them itself
        update = await update_referrers_index(writer, subject, ours)
        log.info(
            "%s: referrers index %s lists %d more", destination.description, update.tag, len(update.added)
        )
    # how the destination lists them now: itself (OCI-Subject), or by the index just written
    indexed = {str(subject) for subject in plan.indexes}
    for entry in plan.entries:
        if entry.how != "digest-tag" and (destination.indexes_referrers or entry.subject in indexed):
            entry.how = "api" if destination.indexes_referrers else "tag-schema"
    for r, action in plan.tags:
        assert r.tag is not None and action.manifest is not None
        await _copy_blobs(source, destination, r, mount)
        if action.config is not None:
            await writer.put_blob(compute(action.config), action.config)
        await destination.put_manifest(r.tag, action.manifest, action.media_type)
        log.info("%s: digest tag %s: %s (%s)", destination.description, r.tag, action.action, action.reason)


async def _copy_blobs(source: Storage, destination: Storage, r: Referrer, mount: bool) -> None:
    await _copy_content(source, destination, r.manifest, r.descriptor.media_type, mount, depth=0)


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
    for blob in manifest.blobs:
        if blob.is_foreign or await destination.has_blob(blob.digest):
            continue
        await destination.put_blob(
            blob,
            partial(verified_blob, source, blob, _quiet),
            mount_from=source if mount else None,
        )


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
