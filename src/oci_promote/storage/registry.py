"""A repository in a registry as a `Storage`: thin calls on the HTTP client and the uploader."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import anyio

from ..errors import DigestMismatchError, RegistryError, UsageError
from ..events import BlobHow
from ..transport.client import ResponseTooLarge
from ..transport.distribution import RegistryClient
from ..transport.referrers_api import (
    MAX_TAGS_PAGE,
    ApiUnavailable,
    ReferrersPage,
    read_referrers_answer,
    read_tags_answer,
    referrers_path,
)
from ..transport.retry import RETRY_STATUSES
from ..transport.upload import BlobUploader
from ..types.body import BodyFactory
from ..types.digest import Digest, compute, parse_digest
from ..types.media import Descriptor
from .base import Storage, StoredManifest, TagPage

log = logging.getLogger("oci_promote")

#: How long an abandoned upload session may take to cancel on the way out.
CANCEL_SECONDS = 5.0


class RegistryStorage:
    def __init__(self, client: RegistryClient, uploader: BlobUploader, repository: str) -> None:
        self.client = client
        self.uploader = uploader
        self.registry = client.registry
        self.repository = repository

    @property
    def description(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def identity(self) -> tuple[str, ...]:
        return ("registry", self.registry, self.repository)

    # -- blobs --------------------------------------------------------------------------

    async def has_blob(self, digest: Digest) -> bool:
        return await self.client.blob_exists(self.repository, digest)

    def open_blob(self, descriptor: Descriptor) -> AsyncIterator[bytes]:
        return self.client.stream_blob(self.repository, descriptor.digest)

    def can_mount_from(self, other: Storage) -> bool:
        return (
            isinstance(other, RegistryStorage)
            and other.registry == self.registry
            and other.repository != self.repository
        )

    async def put_blob(
        self, descriptor: Descriptor, body: BodyFactory, *, mount_from: Storage | None = None
    ) -> BlobHow:
        digest = descriptor.digest
        location: str | None = None
        if (
            mount_from is not None
            and isinstance(mount_from, RegistryStorage)
            and self.can_mount_from(mount_from)
        ):
            try:
                mount = await self.client.mount_blob(self.repository, digest, mount_from.repository)
            except RegistryError as e:
                log.debug("mount of %s refused (%s); uploading instead", digest.short, e)
            else:
                if mount.mounted:
                    return "mounted"
                location = mount.upload_location
        if location is None:
            location = await self.client.start_upload(self.repository)
        what = f"blob {digest} to {self.description}"
        try:
            await self.uploader.upload(self.repository, digest, descriptor.size, body, what, session=location)
        except BaseException:
            # Cancelled or failed: close the session we opened, even while being cancelled.
            with anyio.move_on_after(CANCEL_SECONDS, shield=True):
                await self.client.cancel_upload(location)
            raise
        return "copied"

    # -- manifests and tags ---------------------------------------------------------------

    async def has_manifest(self, target: str) -> bool:
        return await self.client.head_manifest(self.repository, target) is not None

    async def resolve(self, target: str) -> Digest | None:
        """From `Docker-Content-Digest` when the registry sends it, else by hashing the body."""
        head = await self.client.head_manifest(self.repository, target)
        if head is None:
            return None
        if head.digest:
            return _header_digest(head.digest, f"{self.description}:{target}", self.registry)
        stored = await self.get_manifest(target)
        return compute(stored.raw)

    async def get_manifest(self, target: str) -> StoredManifest:
        raw, media_type, header = await self.client.get_manifest(self.repository, target)
        return StoredManifest(raw, media_type, header)

    async def put_manifest(
        self, target: str, raw: bytes, media_type: str, *, child: bool = False
    ) -> str | None:
        return await self.client.put_manifest(self.repository, target, raw, media_type)

    async def list_tags(self, *, last: str | None = None, limit: int | None = None) -> TagPage:
        """One page (`n` at most MAX_TAGS_PAGE); the next cursor is the `last` of the `Link`."""
        r = await self.client.list_tags(
            self.repository, n=min(limit or MAX_TAGS_PAGE, MAX_TAGS_PAGE), last=last
        )
        tags, next_url = read_tags_answer(r.status_code, r.headers, r.content, str(r.url))
        follow = parse_qs(urlsplit(next_url).query).get("last") if next_url else None
        return TagPage(tags, follow[0] if follow and tags else None)

    async def get_referrers(
        self, subject: Digest, artifact_type: str | None, url: str | None
    ) -> ReferrersPage | ApiUnavailable:
        target = url or referrers_path(self.repository, subject, artifact_type)
        try:
            r = await self.client.get_referrers(self.repository, target)
        except ResponseTooLarge:
            return ApiUnavailable("referrers API answered an index over the size limit")
        except RegistryError as e:
            if e.status not in RETRY_STATUSES:
                raise
            # "later" on every attempt: no API to use, as a 404 says
            return ApiUnavailable(f"referrers API answered {e.status} on every attempt")
        return read_referrers_answer(r.status_code, r.headers, r.content, str(r.url))

    @property
    def indexes_referrers(self) -> bool:
        return self.client.indexes_referrers

    async def holds_anything(self) -> bool | None:
        # distribution answers NAME_UNKNOWN for a repository that holds blobs or untagged
        # manifests but no tag, so only a listed tag is a certain answer.
        return True if await self.client.repository_exists(self.repository) else None


def _header_digest(value: str, what: str, registry: str) -> Digest:
    try:
        return parse_digest(value)
    except UsageError:
        raise DigestMismatchError(
            f"{registry} sent a malformed digest header for {what}", expected="a digest", got=value
        ) from None
