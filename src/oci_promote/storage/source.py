"""What the engine reads an image from: a storage, the tag or digest to ask for, and its description.

A value of the storage layer, so the engine, the referrers and the forensics (which the
engine calls to explain a mismatch) all take the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..types.digest import Digest
from ..types.location import Location
from .base import Storage


@dataclass(frozen=True)
class Source:
    storage: Storage
    #: What to ask the storage for: a tag, or a digest's text.
    target: str
    #: The digest the reference names, if it names one (the bytes must hash to it).
    digest: Digest | None
    description: str


def image_source(location: Location, storage: Storage) -> Source:
    """What the engine reads: the storage, the tag or digest to ask for, and the digest to hold it to."""
    if location.digest is not None:
        target = str(location.digest)
    elif location.tag is not None:
        target = location.tag
    else:  # only a layout is named without a tag or digest
        from .layout import LayoutStorage

        assert isinstance(storage, LayoutStorage)
        target = storage.default_target()
    return Source(storage, target, location.digest, str(location))


def at_digest(storage: Storage, digest: Digest, name: str | None = None) -> Source:
    """The image `digest` in `storage` (read and checked by digest), described as `name@digest`."""
    return Source(storage, str(digest), digest, f"{name or storage.description}@{digest}")
