"""What the referrers logic needs from a storage: the small protocol it is written against.

Both the registry storage and the OCI layout storage implement it (one object per
repository); the in-memory storage of the engine's unit tests does too. The HTTP details
stay in :mod:`.http_answers`: a registry implementation is a GET plus one of its readers.

Registry implementation, in full::

    async def get_referrers_page(self, subject, artifact_type, url):
        url = url or self.base + referrers_path(self.repo, subject, artifact_type)
        r = await self.get(url, follow_redirects=False)   # a 303 is "no API", never followed
        return read_referrers_answer(r.status_code, r.headers, r.content, str(r.url))

    async def get_tags_page(self, url, page_size):
        url = url or self.base + tags_path(self.repo, n=page_size)
        r = await self.get(url)
        return read_tags_answer(r.status_code, r.headers, r.content, str(r.url))

An OCI layout answers ``ApiUnavailable`` and lists its ``org.opencontainers.image.ref.name``
entries as tags in one page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..types.digest import Digest
from .http_answers import ApiUnavailable, ReferrersPage, TagPage


@dataclass(frozen=True)
class StoredManifest:
    """Manifest bytes exactly as stored, and the media type the storage reports."""

    raw: bytes
    media_type: str


class ReferrersReader(Protocol):
    """One repository, read side."""

    @property
    def registry_key(self) -> str:
        """The registry this repository lives in (``host[:port]``); what "the referrers API is
        absent" is remembered for. A layout answers a key of its own (its path)."""
        ...

    async def get_referrers_page(
        self, subject: Digest, artifact_type: str | None, url: str | None
    ) -> ReferrersPage | ApiUnavailable:
        """``GET /v2/<name>/referrers/<subject>`` (``url`` set: a ``Link`` next page)."""
        ...

    async def get_tags_page(self, url: str | None, page_size: int) -> TagPage:
        """``GET /v2/<name>/tags/list?n=page_size`` (``url`` set: a ``Link`` next page)."""
        ...

    async def get_manifest(self, reference: str) -> StoredManifest | None:
        """The manifest at a tag or digest, or None when there is none (404)."""
        ...


class ReferrersWriter(ReferrersReader, Protocol):
    """One repository, write side (a destination)."""

    async def put_manifest(self, reference: str, raw: bytes, media_type: str) -> str | None:
        """PUT the bytes verbatim under a tag or digest; the ``OCI-Subject`` header of the answer
        (a registry with the referrers API indexes the manifest itself), else None."""
        ...

    async def put_blob(self, digest: Digest, data: bytes) -> None:
        """Store a small blob (a merged cosign config) unless the repository has it."""
        ...
