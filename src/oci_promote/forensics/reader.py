"""The one place the forensics read images: a small reader protocol over today's sources.

`diff` and `verify` need little: a reference's top manifest, child manifests by
descriptor, whole small blobs (configs) and the first bytes of large ones
(layers), all verified or bounded. Everything here goes through `ImageSource`
(registry or OCI layout); when the storage protocol replaces it, only this
module changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..api import Registries
from ..digest import Digest, DigestVerifier
from ..errors import ManifestError
from ..layout import LayoutReference, LayoutSource, is_layout_reference, parse_layout_reference
from ..media import Descriptor, Manifest
from ..reference import parse_reference
from ..sources import ImageSource, RegistrySource


@dataclass(frozen=True)
class Limits:
    """Bounds against hostile inputs: what a reader fetches before it gives up, with one error."""

    #: Largest config blob read whole (image configs are kilobytes; a long history, a few hundred).
    config_bytes: int = 4 * 1024 * 1024
    #: Index nesting below the top (an index of indexes of images is depth 2).
    depth: int = 4
    #: Manifests fetched per side.
    manifests: int = 512


DEFAULT_LIMITS = Limits()


class TreeReader(Protocol):
    """Read-only access to one image tree, named by `description` in every message."""

    description: str

    async def top(self) -> Manifest: ...
    async def child(self, descriptor: Descriptor) -> Manifest: ...
    async def blob(self, descriptor: Descriptor, *, limit: int) -> bytes: ...
    async def blob_prefix(self, descriptor: Descriptor, length: int) -> bytes: ...
    def at_digest(self, digest: Digest) -> TreeReader: ...


class SourceReader:
    """A TreeReader over an `ImageSource`; the top manifest is fetched once."""

    def __init__(self, source: ImageSource) -> None:
        self.source = source
        self.description = source.description
        self._top: Manifest | None = None

    async def top(self) -> Manifest:
        if self._top is None:
            self._top = await self.source.resolve_top()
        return self._top

    async def child(self, descriptor: Descriptor) -> Manifest:
        return await self.source.fetch_child(descriptor)

    async def blob(self, descriptor: Descriptor, *, limit: int) -> bytes:
        """The whole blob, refused above `limit` and checked against its size and digest."""
        if descriptor.size > limit:
            raise ManifestError(
                f"{self.description}: blob {descriptor.digest} is {descriptor.size} bytes, over the "
                f"{limit}-byte limit for what is read whole; refusing to read it"
            )
        verifier = DigestVerifier(descriptor.digest, descriptor.size)
        parts = []
        async for chunk in self.source.open_blob(descriptor):
            verifier.update(chunk)  # raises as soon as more bytes arrive than the descriptor says
            parts.append(chunk)
        verifier.verify(f"{self.description}: blob")
        return b"".join(parts)

    async def blob_prefix(self, descriptor: Descriptor, length: int) -> bytes:
        """The first `length` bytes of a blob; the rest is never downloaded."""
        stream = self.source.open_blob(descriptor)
        data = b""
        try:
            async for chunk in stream:
                data += chunk
                if len(data) >= length:
                    break
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
        return data[:length]

    def at_digest(self, digest: Digest) -> SourceReader:
        """The same repository (or layout), at another digest."""
        source = self.source
        if isinstance(source, RegistrySource):
            return SourceReader(RegistrySource(source.client, source.reference.with_digest(digest)))
        if isinstance(source, LayoutSource):
            return SourceReader(LayoutSource(LayoutReference(source.ref.path, None, digest)))
        raise TypeError(f"cannot re-target {type(source).__name__}")


def open_reader(text: str, registries: Registries) -> SourceReader:
    """A reader for a reference as the user typed it: `HOST/REPO[:TAG|@DIGEST]` or `oci:PATH...`."""
    if is_layout_reference(text):
        return SourceReader(LayoutSource(parse_layout_reference(text)))
    ref = parse_reference(text)
    client = registries.client(ref.registry, registries.settings.source_credential())
    client.auth.declare(ref.repository, "pull")
    return SourceReader(RegistrySource(client, ref))
