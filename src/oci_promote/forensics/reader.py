"""The one place the forensics read images: one image in a storage, read through the
storage layer's digest-checked reads.

`diff` and `verify` need little: a reference's top manifest (read once), child manifests
by descriptor, whole small blobs (configs) and the first bytes of large ones (layers), all
verified or bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..storage.source import Source
from ..storage.verified import load_child, load_top, read_blob, read_prefix
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


class SourceReader:
    """One image (a storage at a tag or digest), named by `description` in every message;
    the top manifest is fetched once."""

    def __init__(self, source: Source) -> None:
        self.source = source
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
        return await read_blob(self.source.storage, descriptor, limit=limit, where=self.description)

    async def blob_prefix(self, descriptor: Descriptor, length: int) -> bytes:
        return await read_prefix(self.source.storage, descriptor, length)
