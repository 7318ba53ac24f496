"""One side of a comparison, loaded lazily and within limits: manifests, indexes, configs.

Only what a cause needs is fetched: children of an index when their digests
differ, configs when their digests differ, the first bytes of a layer only
to tell how it was compressed. Every manifest is verified against the digest
and size that named it (the source does that); configs are read whole only
under a size cap and checked too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import ManifestError
from ..types.media import DOCKER_MANIFEST, OCI_MANIFEST, Descriptor, Manifest, load_json_object
from .compression import PREFIX_BYTES
from .reader import DEFAULT_LIMITS, Limits, SourceReader

IMAGE_CONFIG_TYPES = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)


@dataclass(frozen=True)
class Node:
    """A manifest or index as stored, its parsed body, and where it sits in the tree."""

    manifest: Manifest
    body: dict[str, Any]
    depth: int
    #: `os/arch[/variant]` from the parent index's descriptor (None for a top manifest).
    platform: str | None = None

    @property
    def digest(self) -> str:
        return str(self.manifest.digest)

    @property
    def media_type(self) -> str:
        return self.manifest.media_type

    @property
    def is_index(self) -> bool:
        return self.manifest.is_index

    @property
    def is_image(self) -> bool:
        return self.media_type in (OCI_MANIFEST, DOCKER_MANIFEST)

    def entries(self) -> list[dict[str, Any]]:
        """An index's child descriptors, as written."""
        return [e for e in self.body.get("manifests") or [] if isinstance(e, dict)]

    def config_descriptor(self) -> Descriptor | None:
        return self.manifest.blobs[0] if self.is_image and self.manifest.blobs else None

    def layers(self) -> tuple[Descriptor, ...]:
        return self.manifest.blobs[1:] if self.is_image else self.manifest.blobs


@dataclass(frozen=True)
class Config:
    raw: bytes
    body: dict[str, Any] | None  # None: not an image config, compared by digest only

    def diff_ids(self) -> list[str] | None:
        rootfs = (self.body or {}).get("rootfs")
        ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        return [str(i) for i in ids] if isinstance(ids, list) else None

    def platform(self) -> str | None:
        return platform_text(self.body)


def platform_text(value: Any) -> str | None:
    """`os/arch[/variant][:os.version]` of a descriptor's platform object."""
    if not isinstance(value, dict):
        return None
    parts = [value.get("os"), value.get("architecture"), value.get("variant")]
    text = "/".join(p for p in parts if isinstance(p, str) and p)
    version = value.get("os.version")
    if text and isinstance(version, str) and version:
        text += f":{version}"
    return text or None


class Tree:
    """Fetches one side's documents on demand, each at most once, within `limits`."""

    def __init__(self, reader: SourceReader, limits: Limits = DEFAULT_LIMITS) -> None:
        self.reader = reader
        self.limits = limits
        self.description = reader.description
        self._fetched = 0
        self._configs: dict[str, Config] = {}

    async def top(self) -> Node:
        self._count()
        manifest = await self.reader.top()
        return Node(manifest, _body(manifest), depth=0)

    async def child(self, parent: Node, index: int) -> Node:
        """The `index`-th child of an index node, refused beyond the depth limit."""
        if parent.depth + 1 > self.limits.depth:
            raise ManifestError(
                f"{self.description}: indexes nest deeper than {self.limits.depth} levels; "
                "refusing to follow them further"
            )
        self._count()
        entry = parent.entries()[index]
        descriptor = parent.manifest.children[index]
        manifest = await self.reader.child(descriptor)
        return Node(manifest, _body(manifest), parent.depth + 1, platform_text(entry.get("platform")))

    async def config(self, node: Node) -> Config | None:
        descriptor = node.config_descriptor()
        if descriptor is None:
            return None
        key = str(descriptor.digest)
        if key not in self._configs:
            if descriptor.media_type not in IMAGE_CONFIG_TYPES:
                self._configs[key] = Config(b"", None)
            else:
                raw = await self.reader.blob(descriptor, limit=self.limits.config_bytes)
                # read with the config's own limit, not the manifest's
                body = load_json_object(raw, f"{self.description}: config {key}", bounded=False)
                self._configs[key] = Config(raw, body)
        return self._configs[key]

    async def compression_hint(self, descriptor: Descriptor) -> bytes:
        return await self.reader.blob_prefix(descriptor, PREFIX_BYTES)

    def _count(self) -> None:
        self._fetched += 1
        if self._fetched > self.limits.manifests:
            raise ManifestError(
                f"{self.description}: more than {self.limits.manifests} manifests; refusing to read further"
            )


def _body(manifest: Manifest) -> dict[str, Any]:
    body = json.loads(manifest.raw)  # already parsed once and proven to be an object
    assert isinstance(body, dict)
    return body
