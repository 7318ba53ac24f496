"""The storage protocol: one repository's blobs, manifests and tags, wherever they live.

The copy engine is written against this protocol only (regclient's `scheme`
idea), so a registry, an OCI image layout and the in-memory storage of the unit
tests are interchangeable as source and as destination. One object stands for
one repository (a layout directory is one repository).

Targets are strings: a tag, or a digest's text (`sha256:...`). Manifests travel
as the bytes that were stored; nothing here parses or re-serialises them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from ..events import BlobHow
from ..transport.referrers_api import ApiUnavailable, ReferrersPage
from ..types.body import BodyFactory
from ..types.digest import Digest
from ..types.media import Descriptor


@dataclass(frozen=True)
class StoredManifest:
    """Manifest bytes exactly as stored, the media type the storage reports, and the
    digest it claims (`Docker-Content-Digest`) when it sends one."""

    raw: bytes
    media_type: str | None
    digest_header: str | None = None


@dataclass(frozen=True)
class TagPage:
    """One page of a repository's tags; pass `next` back as `last` for the following page."""

    tags: tuple[str, ...]
    next: str | None = None

    @classmethod
    def of(cls, tags: list[str], *, last: str | None, limit: int | None) -> TagPage:
        """The page after `last` of tags a storage holds itself, in lexical order as registries list them."""
        after = sorted(t for t in tags if last is None or t > last)
        if limit is not None and len(after) > limit:
            return cls(tuple(after[:limit]), after[limit - 1])
        return cls(tuple(after))


class Storage(Protocol):
    """One repository, readable and writable."""

    @property
    def description(self) -> str:
        """How messages name it: `host/repo` or `oci:/path`."""
        ...

    @property
    def identity(self) -> tuple[str, ...]:
        """Equal for two objects that stand for the same repository (they share work)."""
        ...

    # -- blobs --------------------------------------------------------------------------

    async def has_blob(self, digest: Digest) -> bool: ...

    def open_blob(self, descriptor: Descriptor) -> AsyncIterator[bytes]:
        """Stream the blob's bytes; the caller verifies them against the descriptor."""
        ...

    def can_mount_from(self, other: Storage) -> bool:
        """True when `put_blob(..., mount_from=other)` can link the blob without its bytes."""
        ...

    async def put_blob(
        self, descriptor: Descriptor, body: BodyFactory, *, mount_from: Storage | None = None
    ) -> BlobHow:
        """Store a blob: mounted from `mount_from` when possible, else copied from `body`
        (whose bytes the caller verifies as they pass). A failed or cancelled put leaves
        no half-written blob and no open upload session behind (best effort, bounded)."""
        ...

    # -- manifests and tags ---------------------------------------------------------------

    async def has_manifest(self, target: str) -> bool: ...

    async def resolve(self, target: str) -> Digest | None:
        """What a tag (or digest) points at now, cheaply (a HEAD); None when nothing."""
        ...

    async def get_manifest(self, target: str) -> StoredManifest:
        """The stored bytes; NotFoundError (or IncompleteSourceError) when there are none."""
        ...

    async def put_manifest(
        self, target: str, raw: bytes, media_type: str, *, child: bool = False
    ) -> str | None:
        """Store the bytes verbatim under a tag or their digest; return the digest the
        storage says it stored, if it says. `child`: a manifest only an index refers to
        (a layout then keeps it out of its `index.json`)."""
        ...

    async def list_tags(self, *, last: str | None = None, limit: int | None = None) -> TagPage: ...

    # -- referrers (signatures, attestations, SBOMs) -------------------------------------

    async def get_referrers(
        self, subject: Digest, artifact_type: str | None, url: str | None
    ) -> ReferrersPage | ApiUnavailable:
        """One page of the OCI 1.1 referrers API (`url`: a `Link` next page); ApiUnavailable
        when the storage has no such API (a layout, distribution 2.8: the tag schema instead)."""
        ...

    @property
    def indexes_referrers(self) -> bool:
        """True once the storage answered a manifest PUT with `OCI-Subject`: it indexes
        referrers itself, so no tag schema index is written there."""
        ...

    async def holds_anything(self) -> bool | None:
        """False only when the repository certainly holds nothing (then no HEAD is needed);
        True when it certainly holds something; None when the storage cannot tell."""
        ...
