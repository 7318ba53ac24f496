"""The one place the forensics read images: a small reader protocol over the storage layer.

`diff` and `verify` need little: a reference's top manifest, child manifests by
descriptor, whole small blobs (configs) and the first bytes of large ones
(layers), all verified or bounded. Everything here goes through a `Storage`
(registry or OCI layout) and the engine's verified manifest loaders.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from ..connect import Connections
from ..engine.graph import load_child, load_top
from ..engine.source import Source, at_digest, image_source
from ..errors import ManifestError
from ..options import Location, parse_location
from ..transport.credentials import Credential
from ..types.digest import Digest, DigestVerifier
from ..types.media import Descriptor, Manifest


@dataclass(frozen=True)
class Limits:
    """Bounds against hostile inputs: what a reader fetches before it gives up, with one error."""

    #: Largest config blob read whole (image configs are kilobytes; a long history, a few hundred).
    config_bytes: int = 4 * 1024 * 1024
    #: Index nesting below the top (an index of indexes of images is depth 2).
    depth: int = 4
    #: Manifests fetched per side.
    manifests: int = 512


DEFAULT_LIMITS: Limits = Limits()


class TreeReader(Protocol):
    """Read-only access to one image tree, named by `description` in every message."""

    description: str

    async def top(self) -> Manifest: ...
    async def child(self, descriptor: Descriptor) -> Manifest: ...
    async def blob(self, descriptor: Descriptor, *, limit: int) -> bytes: ...
    async def blob_prefix(self, descriptor: Descriptor, length: int) -> bytes: ...
    def at_digest(self, digest: Digest) -> TreeReader: ...


class SourceReader:
    """A TreeReader over one storage at one tag or digest; the top manifest is fetched once."""

    def __init__(self, source: Source, location: Location | None = None) -> None:
        self.source = source
        self.location = location
        self.description = source.description
        self._top: Manifest | None = None

    async def top(self) -> Manifest:
        if self._top is None:
            s = self.source
            self._top = await load_top(s.storage, s.target, s.digest, s.description)
        return self._top

    async def child(self, descriptor: Descriptor) -> Manifest:
        return await load_child(self.source.storage, descriptor, self.description)

    async def blob(self, descriptor: Descriptor, *, limit: int) -> bytes:
        """The whole blob, refused above `limit` and checked against its size and digest."""
        if descriptor.size > limit:
            raise ManifestError(
                f"{self.description}: blob {descriptor.digest} is {descriptor.size} bytes, over the "
                f"{limit}-byte limit for what is read whole; refusing to read it"
            )
        verifier = DigestVerifier(descriptor.digest, descriptor.size)
        parts = []
        async for chunk in self.source.storage.open_blob(descriptor):
            verifier.update(chunk)  # raises as soon as more bytes arrive than the descriptor says
            parts.append(chunk)
        verifier.verify(f"{self.description}: blob")
        return b"".join(parts)

    async def blob_prefix(self, descriptor: Descriptor, length: int) -> bytes:
        """The first `length` bytes of a blob; the rest is never downloaded."""
        stream = self.source.storage.open_blob(descriptor)
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
        if self.location is None:
            return SourceReader(at_digest(self.source.storage, digest))
        location = replace(self.location, tag=None, digest=digest)
        return SourceReader(image_source(location, self.source.storage), location)


def open_reader(text: str, connections: Connections, credential: Credential | None = None) -> SourceReader:
    """A reader for a reference as the user typed it: `HOST/REPO[:TAG|@DIGEST]` or `oci:PATH...`."""
    location = parse_location(text)
    return SourceReader(image_source(location, connections.source(location, credential)), location)
