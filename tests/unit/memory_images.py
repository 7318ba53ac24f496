"""Images built straight into the in-memory storage, for the engine's unit tests."""

from __future__ import annotations

import json
from typing import Any

from oci_promote.storage.memory import MemoryRegistry, MemoryRepository
from oci_promote.types.digest import Digest, compute
from oci_promote.types.media import OCI_INDEX, OCI_MANIFEST

LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG = "application/vnd.oci.image.config.v1+json"


def add_blob(registry: MemoryRegistry, repo: str, data: bytes, media_type: str = LAYER) -> dict[str, Any]:
    digest = compute(data)
    registry.repositories.setdefault(repo, MemoryRepository()).blobs[digest] = data
    return {"mediaType": media_type, "digest": str(digest), "size": len(data)}


def add_manifest(
    registry: MemoryRegistry, repo: str, body: dict[str, Any], media_type: str, tag: str | None = None
) -> dict[str, Any]:
    raw = json.dumps(body, indent=1).encode()  # not canonical on purpose: bytes must travel verbatim
    digest = compute(raw)
    repository = registry.repositories.setdefault(repo, MemoryRepository())
    repository.manifests[digest] = (raw, media_type)
    if tag is not None:
        repository.tags[tag] = digest
    return {"mediaType": media_type, "digest": str(digest), "size": len(raw)}


def add_index(
    registry: MemoryRegistry,
    repo: str,
    tag: str,
    platforms: tuple[str, ...] = ("amd64", "arm64"),
    layers: int = 2,
) -> Digest:
    """An index of one manifest per platform; platforms share their first layer."""
    children = []
    shared = add_blob(registry, repo, b"shared base layer" * 50)
    for arch in platforms:
        config = add_blob(registry, repo, json.dumps({"architecture": arch}).encode(), CONFIG)
        own = [add_blob(registry, repo, f"{arch} layer {i}".encode() * (10 + i)) for i in range(layers - 1)]
        body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [shared, *own]}
        child = add_manifest(registry, repo, body, OCI_MANIFEST)
        children.append({**child, "platform": {"os": "linux", "architecture": arch}})
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    return _digest(add_manifest(registry, repo, index, OCI_INDEX, tag))


def _digest(descriptor: dict[str, Any]) -> Digest:
    algorithm, _, encoded = descriptor["digest"].partition(":")
    return Digest(algorithm, encoded)


def blob_count(platforms: int = 2, layers: int = 2) -> int:
    """Blobs of `add_index`: the shared layer, and per platform a config and its own layers."""
    return 1 + platforms * layers
