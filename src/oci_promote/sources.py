"""Where images come from: one interface over a registry and an OCI layout.

The copy engine asks a source for the top manifest, child manifests and blob
streams, and never cares where the bytes live (regclient's scheme idea).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from .digest import Digest, compute
from .errors import DigestMismatchError, IncompleteSourceError, NotFoundError
from .media import Descriptor, Manifest, parse_manifest
from .reference import Reference
from .registry import RegistryClient


class ImageSource(Protocol):
    description: str
    #: (registry, repository) when blobs could be mounted from here, else None.
    registry_location: tuple[str, str] | None

    async def resolve_top(self) -> Manifest: ...
    async def fetch_child(self, descriptor: Descriptor) -> Manifest: ...
    def open_blob(self, descriptor: Descriptor) -> AsyncIterator[bytes]: ...
    def destination_tag(self) -> str | None: ...


def verified_manifest(
    raw: bytes,
    where: str,
    *,
    requested: Digest | None,
    declared: str | None,
    header_digest: str | None = None,
    size: int | None = None,
) -> Manifest:
    """Parse manifest bytes after proving they are the bytes that were asked for.

    A source that answers a digest request with other bytes is refused, and so
    is one whose `Docker-Content-Digest` disagrees with the bytes it sent.
    """
    algorithm = requested.algorithm if requested else "sha256"
    actual = compute(raw, algorithm)
    if requested is not None and actual != requested:
        raise DigestMismatchError(
            f"{where} served a manifest whose bytes hash to {actual}, not the {requested} "
            "that was asked for; refusing to copy it",
            expected=str(requested),
            got=str(actual),
        )
    if size is not None and len(raw) != size:
        raise DigestMismatchError(
            f"{where}: manifest {actual} is {len(raw)} bytes, its descriptor says {size}",
            expected=f"{size} bytes",
            got=f"{len(raw)} bytes",
        )
    if header_digest and header_digest.startswith(f"{algorithm}:") and header_digest != str(actual):
        raise DigestMismatchError(
            f"{where} says the manifest digest is {header_digest}, but its bytes hash to {actual}",
            expected=header_digest,
            got=str(actual),
        )
    return parse_manifest(raw, declared=declared, digest=actual)


class RegistrySource:
    """An image in a registry, named by tag or digest."""

    def __init__(self, client: RegistryClient, reference: Reference) -> None:
        self.client = client
        self.reference = reference
        self.description = str(reference)
        self.registry_location: tuple[str, str] | None = (reference.registry, reference.repository)

    async def resolve_top(self) -> Manifest:
        ref = self.reference
        raw, content_type, header = await self.client.get_manifest(ref.repository, ref.target)
        return verified_manifest(
            raw, self.description, requested=ref.digest, declared=content_type, header_digest=header
        )

    async def fetch_child(self, descriptor: Descriptor) -> Manifest:
        try:
            raw, content_type, header = await self.client.get_manifest(
                self.reference.repository, str(descriptor.digest)
            )
        except NotFoundError:
            raise IncompleteSourceError(
                f"{self.description}: child manifest {descriptor.digest}"
                f"{f' ({descriptor.platform})' if descriptor.platform else ''} is missing at the "
                "source, so the index cannot be copied whole",
                missing=str(descriptor.digest),
            ) from None
        return verified_manifest(
            raw,
            self.description,
            requested=descriptor.digest,
            declared=content_type or descriptor.media_type,
            header_digest=header,
            size=descriptor.size,
        )

    def open_blob(self, descriptor: Descriptor) -> AsyncIterator[bytes]:
        return self.client.stream_blob(self.reference.repository, descriptor.digest)

    def destination_tag(self) -> str | None:
        return self.reference.tag
