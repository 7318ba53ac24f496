"""An in-memory repository behind the referrers storage protocol, for unit tests only."""

from __future__ import annotations

from dataclasses import dataclass, field

from oci_promote.referrers import ApiUnavailable, ReferrersPage, StoredManifest, TagPage
from oci_promote.referrers.naming import is_valid_tag
from oci_promote.types.digest import Digest, compute


@dataclass
class MemoryRepo:
    """Manifests by digest and tag; the referrers API answers from ``api_pages`` when set."""

    manifests: dict[str, StoredManifest] = field(default_factory=dict)
    blobs: dict[Digest, bytes] = field(default_factory=dict)
    #: subject -> pages of the referrers API; None: the API is absent (a 404).
    api_pages: dict[Digest, list[ReferrersPage]] | None = None
    filters_applied: bool = False
    tags_page: int = 0  # 0: one page
    calls: list[str] = field(default_factory=list)
    registry_key: str = "memory"

    def add(self, raw: bytes, media_type: str, tag: str | None = None) -> Digest:
        digest = compute(raw)
        self.manifests[str(digest)] = StoredManifest(raw, media_type)
        if tag:
            self.manifests[tag] = StoredManifest(raw, media_type)
        return digest

    async def get_referrers_page(
        self, subject: Digest, artifact_type: str | None, url: str | None
    ) -> ReferrersPage | ApiUnavailable:
        self.calls.append(f"referrers {subject} {artifact_type} {url}")
        if self.api_pages is None:
            return ApiUnavailable("referrers API answered 404")
        pages = self.api_pages.get(subject, [ReferrersPage(())])
        index = int(url.rsplit("=", 1)[1]) if url else 0
        page = pages[index]
        return ReferrersPage(
            page.descriptors,
            f"mem://next?page={index + 1}" if index + 1 < len(pages) else None,
            self.filters_applied and artifact_type is not None,
        )

    async def get_tags_page(self, url: str | None, page_size: int) -> TagPage:
        self.calls.append(f"tags {url}")
        tags = sorted(k for k in self.manifests if is_valid_tag(k) and ":" not in k)
        size = self.tags_page or len(tags) or 1
        start = int(url.rsplit("=", 1)[1]) if url else 0
        more = start + size < len(tags)
        return TagPage(
            tuple(tags[start : start + size]), f"mem://tags?start={start + size}" if more else None
        )

    async def get_manifest(self, reference: str) -> StoredManifest | None:
        self.calls.append(f"get {reference}")
        return self.manifests.get(reference)

    async def put_manifest(self, reference: str, raw: bytes, media_type: str) -> str | None:
        self.calls.append(f"put {reference}")
        self.manifests[reference] = StoredManifest(raw, media_type)
        return None

    async def put_blob(self, digest: Digest, data: bytes) -> None:
        self.calls.append(f"blob {digest}")
        self.blobs[digest] = data
