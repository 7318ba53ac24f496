"""Carry an image's referrers to its destinations, inside the copy.

Three steps, each for a reason:

* :func:`find_referrers` at the source, before anything is written, so
  ``--require-referrer`` can refuse an unsigned image with nothing half-written;
* :func:`plan_destination` per destination repository, reads only: what is already
  there (the destination's tag schema index, its digest tags), and every digest tag
  conflict is raised here, before the first write anywhere;
* :func:`~.write.write_destination` between the image's manifests and its tags (the
  executor's ``before_tags`` step, wired in :mod:`oci_promote.engine.referrers`): blobs,
  manifests by digest, the merged ``<alg>-<hex>`` index (unless the destination indexes
  referrers itself), digest tags. So a tag never shows up at a destination without the
  signatures the source had.

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
from typing import TYPE_CHECKING

from ..concurrency import both, gather
from ..errors import PromoteError
from ..result import ReferrerCopy
from ..storage import Storage, StoredManifest
from ..storage.verified import stored_or_none
from ..transport.referrers_api import ApiUnavailable
from ..types.digest import Digest
from ..types.referrer import ReferrerDescriptor
from .artifact_types import check_required, matches, shown_type
from .discover import ApiMemory, api_listing, discover_referrers, registry_key
from .model import How, Referrer
from .naming import referrers_tag

if TYPE_CHECKING:
    from .digest_tags import TagAction

log = logging.getLogger("oci_promote")


@dataclass(frozen=True)
class ReferrerOptions:
    """``CopyOptions.referrers`` / ``referrer_types`` / ``require_referrers``."""

    enabled: bool = True
    types: tuple[str, ...] = ()
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class FoundReferrers:
    """The referrers to carry, and how many discovery found before the type filter."""

    carry: tuple[Referrer, ...] = ()
    found: int = 0


async def find_referrers(
    source: Storage, subjects: Sequence[Digest], options: ReferrerOptions, where: str
) -> FoundReferrers:
    """The referrers to carry (parents first); MissingReferrersError for a missing required type.

    Discovery is unfiltered so the requirement sees everything; the type filter then keeps
    the image's own referrers of those types and whatever hangs below them."""
    if not options.enabled and not options.required:
        return FoundReferrers()
    found = await discover_referrers(source, subjects)
    for note in found.skipped:
        log.info("%s: %s", where, note)
    check_required(where, [r for r in found.referrers if r.depth == 1], options.required)
    carry = select(found.referrers, options.types) if options.enabled else ()
    return FoundReferrers(carry, len({r.digest for r in found.referrers}))


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
    #: Subjects whose index the destination does not have at all -> the source's index
    #: bytes (empty when it had none), written as they are if they list exactly ours.
    new_indexes: dict[Digest, bytes] = field(default_factory=dict)
    #: The destination answered its referrers API (then it indexes each referrer PUT itself).
    api: bool = False

    @property
    def writes(self) -> bool:
        return bool(self.manifests or self.indexes or self.tags)


async def plan_destination(destination: Storage, referrers: Sequence[Referrer]) -> DestinationReferrers:
    """Read what the destination holds; DigestTagConflictError (or ReferrersError for a
    schema tag that is no index) before anything is written.

    A destination with the referrers API is asked through it (one GET per subject): what it
    lists is there, and no tag schema index is planned unless a referrer must be pushed (in
    case its PUT then gets no ``OCI-Subject``). So a no-op re-run writes nothing there.
    The reads go out together, three round trips at most whatever the count: the first
    subject's API probe with every digest tag; the other subjects' API listings, or (no API)
    every tag schema index; then every manifest none of them lists. Referrers the source
    keeps in the tag schema are looked up in the destination's indexes first
    (:func:`_tag_schema_first`)."""
    # Only a copy that found referrers gets here: the rest of the copies never load these.
    from .digest_tags import decide_digest_tag
    from .index_merge import listed_digests, merge_index

    plan = DestinationReferrers(destination)
    by_subject: dict[Digest, list[Referrer]] = {}
    for r in referrers:
        if r.how != "digest-tag":
            by_subject.setdefault(r.subject, []).append(r)
    tagged = [r for r in referrers if r.how == "digest-tag" and r.tag is not None]
    subjects = list(by_subject)
    memory = ApiMemory()

    async def listings_of(subjects: Sequence[Digest]) -> dict[Digest, tuple[set[str], How]]:
        found = await gather(partial(_listed_at, destination, s, memory) for s in subjects)
        return dict(zip(subjects, found, strict=True))

    digest_tags = [r.tag for r in tagged if r.tag]
    index_tags = [referrers_tag(s) for s in subjects]
    listings: dict[Digest, tuple[set[str], How]] = {}
    held: dict[str, StoredManifest | None] = {}
    if subjects and all(r.how == "tag-schema" for group in by_subject.values() for r in group):
        listed_all, held = await _tag_schema_first(destination, by_subject, digest_tags)
        if listed_all:
            listings = {s: (set(), "tag-schema") for s in subjects}
    if not listings:
        # The first subject's listing finds out whether the API exists (asked once), with the
        # digest tags; then either the other subjects' listings or every tag schema index.
        listings, read = await both(
            partial(listings_of, subjects[:1]),
            partial(_read_all, destination, [t for t in digest_tags if t not in held]),
        )
        held.update(read)
        if subjects and listings[subjects[0]][1] == "api":
            plan.api = True
            listings.update(await listings_of(subjects[1:]))
        else:
            listings.update((s, (set(), "tag-schema")) for s in subjects)
            held.update(await _read_all(destination, [t for t in index_tags if t not in held]))
    for subject, group in by_subject.items():
        ours = list({r.digest: r.descriptor for r in group}.values())
        listed, how = listings[subject]
        if how == "api":
            if any(str(d.digest) not in listed for d in ours):
                plan.indexes[subject] = ours
        else:
            tag = referrers_tag(subject)
            existing = held[tag]
            if merge_index(existing.raw if existing else None, ours, tag=tag).raw is not None:
                plan.indexes[subject] = ours
                if existing is None:
                    plan.new_indexes[subject] = next((r.listed_in for r in group if r.listed_in), b"")
            listings[subject] = (listed_digests(existing.raw) if existing else set(), how)
    unlisted = {
        r.digest for s, group in by_subject.items() for r in group if str(r.digest) not in listings[s][0]
    }
    asked = list(unlisted)
    answers = await gather(partial(destination.has_manifest, str(d)) for d in asked)
    present = {d for d, held_there in zip(asked, answers, strict=True) if held_there}
    pushing: set[Digest] = set()
    for subject, group in by_subject.items():
        listed, how = listings[subject]
        for r in group:
            there = str(r.digest) in listed or r.digest in present
            if not there and r.digest not in pushing:
                pushing.add(r.digest)
                plan.manifests.append(r)
            plan.entries.append(_entry(r, how, "present" if there else "copied"))
    for r in tagged:
        assert r.tag is not None
        source = StoredManifest(r.manifest, r.descriptor.media_type)
        action = decide_digest_tag(r.tag, source, held[r.tag])
        if action.action != "keep":
            plan.tags.append((r, action))
        done = {"keep": "present", "write": "copied", "merge": "merged"}[action.action]
        plan.entries.append(_entry(r, "digest-tag", done))
    return plan


async def _tag_schema_first(
    destination: Storage, by_subject: dict[Digest, list[Referrer]], digest_tags: Sequence[str]
) -> tuple[bool, dict[str, StoredManifest | None]]:
    """Whether the destination's tag schema indexes list every referrer, and what was read.

    Referrers the source keeps in the tag schema are in the tag schema at every destination
    an earlier copy wrote them to without the API. The first subject's index is read with
    the digest tags; only if it lists them all are the other subjects' indexes read. So a
    no-op re-run to a registry without the API asks no API probe, and one with the API pays
    one GET (the first index, absent there) before it is asked as usual."""
    subjects = list(by_subject)
    first = referrers_tag(subjects[0])
    held = await _read_all(destination, [*digest_tags, first])
    if not _lists_all(held[first], by_subject[subjects[0]]):
        return False, held
    held.update(await _read_all(destination, [referrers_tag(s) for s in subjects[1:]]))
    return all(_lists_all(held[referrers_tag(s)], group) for s, group in by_subject.items()), held


def _lists_all(index: StoredManifest | None, group: Sequence[Referrer]) -> bool:
    """Whether a destination's tag schema index lists every one of `group` (False when it
    cannot say: no index, or a tag that holds something else)."""
    from .index_merge import listed_digests  # loaded by plan_destination by now

    try:
        return index is not None and {str(r.digest) for r in group} <= listed_digests(index.raw)
    except PromoteError:
        return False


async def _read_all(storage: Storage, tags: Sequence[str]) -> dict[str, StoredManifest | None]:
    """What each tag holds (None: nothing), asked together."""
    found = await gather(partial(stored_or_none, storage, tag) for tag in tags)
    return dict(zip(tags, found, strict=True))


async def _listed_at(storage: Storage, subject: Digest, memory: ApiMemory) -> tuple[set[str], How]:
    """The digests the destination's referrers API lists for ``subject``, or "no API"
    (asked once per destination: a registry without it says so for every subject)."""
    registry = registry_key(storage)
    if not memory.knows_absent(registry):
        answer = await api_listing(storage, subject, frozenset())
        if not isinstance(answer, ApiUnavailable):
            return {str(d.digest) for d in answer}, "api"
        memory.remember_absent(registry, answer.reason)
    return set(), "tag-schema"


def _entry(r: Referrer, how: str, action: str) -> ReferrerCopy:
    return ReferrerCopy(str(r.digest), shown_type(r), str(r.subject), how, r.tag, action)
