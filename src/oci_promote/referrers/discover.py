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
in turn (a signature on an SBOM), down to ``max_depth``. A type filter applies to the
image's own referrers; what hangs below a chosen referrer comes with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from ..digest import Digest, compute
from ..errors import DigestMismatchError
from ..media import INDEX_TYPES
from .artifact_types import matches
from .http_answers import MAX_TAGS_PAGE, ApiUnavailable, ReferrersPage
from .model import (
    How,
    ManifestFacts,
    Referrer,
    ReferrerDescriptor,
    descriptor_for_manifest,
    load_json_object,
    manifest_facts,
    parse_index_descriptor,
)
from .naming import digest_tags_for, referrers_tag
from .store import ReferrersReader


@dataclass(frozen=True)
class DiscoveryOptions:
    #: Only referrers of these artifact types (empty: all); see :mod:`.types`.
    artifact_types: frozenset[str] = frozenset()
    max_depth: int = 4
    digest_tags: bool = True
    tags_page_size: int = MAX_TAGS_PAGE


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


async def list_tags(reader: ReferrersReader, page_size: int = MAX_TAGS_PAGE) -> AsyncIterator[str]:
    """Every tag of the repository, following ``Link`` pages; stops on a repeated page."""
    url: str | None = None
    seen: set[str | None] = set()
    while True:
        page = await reader.get_tags_page(url, page_size)
        for tag in page.tags:
            yield tag
        if page.next_url is None or page.next_url in seen or not page.tags:
            return
        seen.add(url)
        url = page.next_url
        seen.add(url)


async def api_listing(
    reader: ReferrersReader, subject: Digest, artifact_types: frozenset[str]
) -> tuple[ReferrerDescriptor, ...] | ApiUnavailable:
    """All pages of the referrers API for one subject, filtered locally unless the registry
    says (``OCI-Filters-Applied: artifactType``) that it filtered."""
    ask = next(iter(artifact_types)) if len(artifact_types) == 1 else None
    found: list[ReferrerDescriptor] = []
    url: str | None = None
    seen: set[str] = set()
    while True:
        page = await reader.get_referrers_page(subject, ask, url)
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
    def __init__(self, reader: ReferrersReader, options: DiscoveryOptions, memory: ApiMemory) -> None:
        self.reader, self.options, self.memory = reader, options, memory
        self.tags: set[str] = set()
        self.found: dict[tuple[Digest, str | None], Referrer] = {}
        self.skipped: list[str] = []
        self.used_api = False

    async def run(self, subjects: Sequence[Digest]) -> Discovery:
        self.tags = {t async for t in list_tags(self.reader, self.options.tags_page_size)}
        queue = [(s, 1) for s in dict.fromkeys(subjects)]
        visited: set[Digest] = set()
        while queue:
            subject, depth = queue.pop(0)
            if subject in visited or depth > self.options.max_depth:
                continue
            visited.add(subject)
            for referrer in await self._referrers_of(subject, depth):
                queue.append((referrer.digest, depth + 1))
        return Discovery(tuple(self.found.values()), tuple(self.skipped), self.used_api)

    async def _referrers_of(self, subject: Digest, depth: int) -> list[Referrer]:
        wanted = self.options.artifact_types if depth == 1 else frozenset()
        listed, how = await self._listing(subject, wanted)
        new: list[Referrer] = []
        for descriptor in listed:
            got = await self._fetch(descriptor.digest, f"referrer {descriptor.digest} of {subject}")
            if got is None:
                continue
            raw, media_type, facts = got
            if facts.subject != subject:
                self.skipped.append(f"{descriptor.digest} is listed for {subject} but its subject is not")
                continue
            new += self._add(
                Referrer(
                    subject,
                    descriptor_for_manifest(raw, media_type),
                    how,
                    None,
                    depth,
                    facts.layer_types,
                    raw,
                ),
                wanted,
            )
        if self.options.digest_tags:
            for tag in digest_tags_for(subject, self.tags):
                got = await self._fetch(tag, f"digest tag {tag}")
                if got is not None:
                    raw, media_type, facts = got
                    referrer = Referrer(
                        subject,
                        descriptor_for_manifest(raw, media_type),
                        "digest-tag",
                        tag,
                        depth,
                        facts.layer_types,
                        raw,
                    )
                    new += self._add(referrer, wanted)
        return new

    def _add(self, referrer: Referrer, wanted: frozenset[str]) -> list[Referrer]:
        key = (referrer.digest, referrer.tag)
        if key in self.found or not matches(referrer, wanted):
            return []
        self.found[key] = referrer
        return [referrer]

    async def _listing(
        self, subject: Digest, wanted: frozenset[str]
    ) -> tuple[tuple[ReferrerDescriptor, ...], How]:
        registry = self.reader.registry_key
        if not self.memory.knows_absent(registry):
            answer = await api_listing(self.reader, subject, wanted)
            if not isinstance(answer, ApiUnavailable):
                self.used_api = True
                return answer, "api"
            self.memory.remember_absent(registry, answer.reason)
        tag = referrers_tag(subject)
        if tag not in self.tags:
            return (), "tag-schema"
        stored = await self.reader.get_manifest(tag)
        if stored is None:
            return (), "tag-schema"
        body = load_json_object(stored.raw, f"referrers index {tag}")
        if stored.media_type not in INDEX_TYPES and body.get("mediaType") not in INDEX_TYPES:
            self.skipped.append(f"tag {tag} is not an image index; no referrers read from it")
            return (), "tag-schema"
        entries = body.get("manifests")
        listed = entries if isinstance(entries, list) else []
        return tuple(d for d in map(parse_index_descriptor, listed) if d is not None), "tag-schema"

    async def _fetch(self, reference: Digest | str, what: str) -> tuple[bytes, str, ManifestFacts] | None:
        stored = await self.reader.get_manifest(str(reference))
        if stored is None:
            self.skipped.append(f"{what} is listed but its manifest is missing")
            return None
        if isinstance(reference, Digest) and compute(stored.raw, reference.algorithm) != reference:
            raise DigestMismatchError(
                f"{what}: the source served bytes of another digest",
                expected=str(reference),
                got=str(compute(stored.raw, reference.algorithm)),
            )
        return stored.raw, stored.media_type, manifest_facts(stored.raw, stored.media_type)


async def discover_referrers(
    reader: ReferrersReader,
    subjects: Sequence[Digest],
    options: DiscoveryOptions | None = None,
    memory: ApiMemory | None = None,
) -> Discovery:
    """The referrers of ``subjects`` (the image digest and its child manifests' digests)."""
    return await _Walk(reader, options or DiscoveryOptions(), memory or ApiMemory()).run(subjects)
