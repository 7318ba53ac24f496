"""A repository in a registry as a `Storage`: thin calls on the HTTP client and the uploader."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio

from ..digest import Digest, compute, parse_digest
from ..errors import DigestMismatchError, RegistryError, UsageError
from ..events import BlobHow
from ..media import Descriptor
from ..registry import RegistryClient
from ..upload import BlobUploader
from .base import BodyFactory, Storage, StoredManifest, TagPage

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
        # Needs a paginated tags/list call in the HTTP client (RegistryClient has none yet).
        raise NotImplementedError(f"{self.description}: listing tags needs RegistryClient.list_tags")

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
