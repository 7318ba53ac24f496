"""The one place where a copy :class:`~oci_promote.storage.Storage` becomes a referrers store.

The two protocols differ in two details, reconciled here and nowhere else: the storage's
``get_manifest`` raises NotFoundError (a layout: UsageError for a tag) where the referrers
logic expects None, and the storage pages tags by a ``last`` cursor where the referrers
logic follows a ``next_url`` (here the cursor itself travels as that "url").
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..errors import NotFoundError, UsageError
from ..storage import Storage
from ..types.digest import Digest
from ..types.media import Descriptor
from .http_answers import ApiUnavailable, ReferrersPage, TagPage
from .store import StoredManifest


class StorageReferrers:
    """A Storage seen through :class:`.store.ReferrersWriter`."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @property
    def registry_key(self) -> str:
        return "/".join(self.storage.identity[:2])

    async def get_referrers_page(
        self, subject: Digest, artifact_type: str | None, url: str | None
    ) -> ReferrersPage | ApiUnavailable:
        return await self.storage.get_referrers(subject, artifact_type, url)

    async def get_tags_page(self, url: str | None, page_size: int) -> TagPage:
        page = await self.storage.list_tags(last=url, limit=page_size)
        return TagPage(page.tags, page.next)

    async def get_manifest(self, reference: str) -> StoredManifest | None:
        try:
            stored = await self.storage.get_manifest(reference)
        except (NotFoundError, UsageError):  # a layout names an unknown tag a usage error
            return None
        return StoredManifest(stored.raw, stored.media_type or "")

    async def put_manifest(self, reference: str, raw: bytes, media_type: str) -> str | None:
        await self.storage.put_manifest(reference, raw, media_type)
        return reference if self.storage.indexes_referrers else None

    async def put_blob(self, digest: Digest, data: bytes) -> None:
        if await self.storage.has_blob(digest):
            return

        async def body() -> AsyncIterator[bytes]:
            yield data

        await self.storage.put_blob(Descriptor("application/octet-stream", digest, len(data)), body)
