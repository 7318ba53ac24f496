"""Find the referrers of an image at the source: API, tag schema, digest tags, recursively.

Order of questions per repository, chosen to keep a no-op re-run cheap:

1. the tag list, once, paginated (``n`` ≤ 1000, ``Link``): digest tags are found in it, and
   it tells which ``<alg>-<hex>`` tag schema indexes exist, so none is asked for in vain;
2. per subject, the referrers API, unless this registry is already known not to have it
   (remembered in :class:`ApiMemory`, per registry); with the API the tag schema is not
   read (a registry with the API serves tag-schema referrers through it, spec "Enabling the
   Referrers API");
3. without the API, the tag schema index of that subject, if the tag exists;
4. the subject's digest tags.

Every listed referrer is fetched by digest and hashed: the copy needs its bytes, and its
``artifactType`` is computed from them rather than trusted from a listing. The subjects are
the image's top manifest and each child of an index; each referrer found becomes a subject
in turn (a signature on an SBOM), down to ``max_depth``, whether its subject is the top
manifest, an index child or another referrer. A type filter applies to the image's own
referrers; what hangs below a chosen referrer comes with it.

One type rule everywhere (:mod:`.artifact_types`): it is applied to the fetched manifest,
never to a listing's ``artifactType``, so the API and the tag schema give the same answer
(a cosign OCI 1.1 signature counts as simplesigning by its layer on both). The API is
therefore asked without ``?artifactType=``; :func:`api_listing` can filter by the listing
for a caller who wants exactly the spec's filter.

Requests run concurrently, bounded (``DiscoveryOptions.concurrency``), one depth at a time;
a source with many subjects (a wide index) or many referrers is not walked one GET at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from functools import partial

import anyio

from ..concurrency import both, gather
from ..errors import DigestMismatchError
from ..storage import Storage
from ..storage.verified import stored_or_none
from ..transport.referrers_api import MAX_TAGS_PAGE, ApiUnavailable, ReferrersPage
from ..types.digest import Digest, compute
from ..types.media import INDEX_TYPES, load_json_object
from ..types.referrer import ReferrerDescriptor, parse_index_descriptor
from .artifact_types import matches
from .model import How, ManifestFacts, Referrer, descriptor_for_manifest, manifest_facts
from .naming import digest_tags_for, referrers_tag


@dataclass(frozen=True)
class DiscoveryOptions:
    #: Only referrers of these types (empty: all), by the rule of :mod:`.artifact_types`
    #: (the manifest's artifactType or config type, and its layers' media types).
    artifact_types: frozenset[str] = frozenset()
    max_depth: int = 4
    digest_tags: bool = True
    #: Requests in flight at once (listings and manifest fetches).
    concurrency: int = 8
    tags_page_size: int = MAX_TAGS_PAGE


def registry_key(storage: Storage) -> str:
    """What "the referrers API is absent" is remembered for: the registry (a layout: its path)."""
    return "/".join(storage.identity[:2])


@dataclass
class ApiMemory:
    """Registries known to lack the referrers API, with the answer that told us so."""

    absent: dict[str, str] = field(default_factory=dict)

    def knows_absent(self, registry: str) -> bool:
        return registry in self.absent

    def remember_absent(self, registry: str, reason: str) -> None:
        self.absent.setdefault(registry, reason)


@dataclass(frozen=True)
class Discovery:
    #: Parents before children: a referrer's subject is the image (or a child) or an
    #: earlier entry.
    referrers: tuple[Referrer, ...]
    #: Listed entries that are not referrers of their subject (missing, other subject).
    skipped: tuple[str, ...] = ()
    #: Whether the source answered the referrers API.
    used_api: bool = False


async def list_tags(storage: Storage, page_size: int = MAX_TAGS_PAGE) -> AsyncIterator[str]:
    """Every tag of the repository, page by page; stops on a repeated page."""
    last: str | None = None
    seen: set[str | None] = set()
    while True:
        page = await storage.list_tags(last=last, limit=page_size)
        for tag in page.tags:
            yield tag
        if page.next is None or page.next in seen or not page.tags:
            return
        seen.add(last)
        last = page.next
        seen.add(last)


async def api_listing(
    storage: Storage, subject: Digest, artifact_types: frozenset[str]
) -> tuple[ReferrerDescriptor, ...] | ApiUnavailable:
    """All pages of the referrers API for one subject; with ``artifact_types``, the spec's
    filter (the listing's ``artifactType``): asked of the registry when there is one type,
    and applied here unless the registry says (``OCI-Filters-Applied: artifactType``) that
    it filtered."""
    ask = next(iter(artifact_types)) if len(artifact_types) == 1 else None
    found: list[ReferrerDescriptor] = []
    url: str | None = None
    seen: set[str] = set()
    while True:
        page = await storage.get_referrers(subject, ask, url)
        if isinstance(page, ApiUnavailable):
            if url is None:
                return page
            break  # a broken next page: keep what the first pages said
        found.extend(_filtered(page, artifact_types))
        if page.next_url is None or page.next_url in seen:
            break
        url = page.next_url
        seen.add(url)
    return tuple(found)


def _filtered(page: ReferrersPage, artifact_types: frozenset[str]) -> list[ReferrerDescriptor]:
    if not artifact_types or (page.filtered and len(artifact_types) == 1):
        return list(page.descriptors)
    return [d for d in page.descriptors if d.artifact_type in artifact_types]


class _Walk:
    """Breadth first, one depth at a time; inside a depth every subject, listing and manifest
    fetch runs concurrently (at most ``options.concurrency`` requests at once), and results
    are merged in subject order, so the outcome does not depend on timing."""

    def __init__(self, storage: Storage, options: DiscoveryOptions, memory: ApiMemory) -> None:
        self.storage, self.options, self.memory = storage, options, memory
        self.registry = registry_key(storage)
        self.limiter = anyio.CapacityLimiter(max(1, options.concurrency))
        self.tags: set[str] = set()
        self.found: dict[tuple[Digest, str | None], Referrer] = {}
        self.skipped: list[str] = []
        self.used_api = False
        #: API answers already asked for (the first subject's, asked with the tag listing).
        self.probed: dict[Digest, tuple[ReferrerDescriptor, ...] | ApiUnavailable] = {}

    async def _all_tags(self) -> set[str]:
        return {t async for t in list_tags(self.storage, self.options.tags_page_size)}

    async def _probe(self, subject: Digest) -> tuple[ReferrerDescriptor, ...] | ApiUnavailable | None:
        """The first subject's API listing, asked while the tags are listed."""
        if self.memory.knows_absent(self.registry):
            return None
        return await api_listing(self.storage, subject, frozenset())

    async def run(self, subjects: Sequence[Digest]) -> Discovery:
        level = list(dict.fromkeys(subjects))
        if level:
            self.tags, probed = await both(self._all_tags, partial(self._probe, level[0]))
            if probed is not None:
                self.probed[level[0]] = probed
        visited: set[Digest] = set()
        depth = 1
        while level and depth <= self.options.max_depth:
            visited.update(level)
            # one subject alone tells whether the API exists; then the others together
            first = [] if self._api_known() else [await self._referrers_of(level[0], depth)]
            rest = level[len(first) :]
            per_subject = first + await gather(partial(self._referrers_of, s, depth) for s in rest)
            following: list[Digest] = []
            for candidates in per_subject:
                for referrer in candidates:
                    if self._add(referrer, self.options.artifact_types if depth == 1 else frozenset()):
                        following.append(referrer.digest)
            level = [d for d in dict.fromkeys(following) if d not in visited]
            depth += 1
        return Discovery(tuple(self.found.values()), tuple(self.skipped), self.used_api)

    def _api_known(self) -> bool:
        return self.used_api or self.memory.knows_absent(self.registry)

    async def _referrers_of(self, subject: Digest, depth: int) -> list[Referrer]:
        """Every referrer of ``subject`` (unfiltered: :meth:`_add` applies the type rule)."""
        listed, how, index = await self._listing(subject)
        wanted: list[tuple[Digest | str, How, str]] = [
            (d.digest, how, f"referrer {d.digest} of {subject}") for d in listed
        ]
        if self.options.digest_tags:
            wanted += [
                (tag, "digest-tag", f"digest tag {tag}") for tag in digest_tags_for(subject, self.tags)
            ]
        got = await gather(partial(self._fetch, reference, what) for reference, _, what in wanted)
        out: list[Referrer] = []
        for (reference, found_as, _), fetched in zip(wanted, got, strict=True):
            if fetched is None:
                continue
            raw, media_type, facts = fetched
            tag = reference if isinstance(reference, str) else None
            if tag is None and facts.subject != subject:
                self.skipped.append(f"{reference} is listed for {subject} but its subject is not")
                continue
            descriptor = descriptor_for_manifest(raw, media_type)
            listed_in = index if found_as == "tag-schema" else b""
            out.append(Referrer(subject, descriptor, found_as, tag, depth, facts.layer_types, raw, listed_in))
        return out

    def _add(self, referrer: Referrer, wanted: frozenset[str]) -> bool:
        key = (referrer.digest, referrer.tag)
        if key in self.found or not matches(referrer, wanted):
            return False
        self.found[key] = referrer
        return True

    async def _listing(self, subject: Digest) -> tuple[tuple[ReferrerDescriptor, ...], How, bytes]:
        """The API's listing, asked without ``artifactType``: a listing's type is a hint, the
        type rule (:mod:`.artifact_types`) needs the manifest; else the tag schema index."""
        if not self.memory.knows_absent(self.registry):
            answer = self.probed.pop(subject, None)
            if answer is None:
                async with self.limiter:
                    answer = await api_listing(self.storage, subject, frozenset())
            if not isinstance(answer, ApiUnavailable):
                self.used_api = True
                return answer, "api", b""
            self.memory.remember_absent(self.registry, answer.reason)
        tag = referrers_tag(subject)
        if tag not in self.tags:
            return (), "tag-schema", b""
        async with self.limiter:
            stored = await stored_or_none(self.storage, tag)
        if stored is None:
            return (), "tag-schema", b""
        body = load_json_object(stored.raw, f"referrers index {tag}")
        if stored.media_type not in INDEX_TYPES and body.get("mediaType") not in INDEX_TYPES:
            self.skipped.append(f"tag {tag} is not an image index; no referrers read from it")
            return (), "tag-schema", b""
        entries = body.get("manifests")
        listed = entries if isinstance(entries, list) else []
        descriptors = tuple(d for d in map(parse_index_descriptor, listed) if d is not None)
        return descriptors, "tag-schema", stored.raw

    async def _fetch(self, reference: Digest | str, what: str) -> tuple[bytes, str, ManifestFacts] | None:
        async with self.limiter:
            stored = await stored_or_none(self.storage, str(reference))
        if stored is None:
            self.skipped.append(f"{what} is listed but its manifest is missing")
            return None
        if isinstance(reference, Digest) and compute(stored.raw, reference.algorithm) != reference:
            raise DigestMismatchError(
                f"{what}: the source served bytes of another digest",
                expected=str(reference),
                got=str(compute(stored.raw, reference.algorithm)),
            )
        media_type = stored.media_type or ""
        return stored.raw, media_type, manifest_facts(stored.raw, media_type)


async def discover_referrers(
    storage: Storage,
    subjects: Sequence[Digest],
    options: DiscoveryOptions | None = None,
    memory: ApiMemory | None = None,
) -> Discovery:
    """The referrers of ``subjects`` (the image digest and its child manifests' digests)."""
    return await _Walk(storage, options or DiscoveryOptions(), memory or ApiMemory()).run(subjects)
