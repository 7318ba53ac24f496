"""Media types and a manifest walker that reads raw bytes without ever rewriting them.

We parse JSON only to learn what a manifest references. The bytes we push are
always the bytes we received, so the digest cannot change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidDigestError, ManifestError
from .digest import Digest, compute, parse_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_ARTIFACT_MANIFEST = "application/vnd.oci.artifact.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST, OCI_ARTIFACT_MANIFEST})
MANIFEST_TYPES = INDEX_TYPES | IMAGE_TYPES
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})

#: What we ask registries for: every type we can copy. Schema 1 is left out on
#: purpose, so a registry that can convert serves a schema 2 form instead.
ACCEPT = ", ".join(sorted(MANIFEST_TYPES))

NON_DISTRIBUTABLE_TYPES = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)

#: Registries commonly cap manifests at 4 MiB; a larger one is refused before parsing.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
#: How deep indexes may nest below a top manifest (an index of indexes of images is 2), for
#: an image and for a referrer alike; deeper is refused as hostile or broken.
MAX_NESTING = 8


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    platform: str | None = None

    @property
    def is_foreign(self) -> bool:
        """Non-distributable layers live at their `urls`; registries do not hold them."""
        return self.media_type in NON_DISTRIBUTABLE_TYPES


@dataclass(frozen=True)
class Manifest:
    """Raw manifest bytes plus what they reference; `raw` is what gets pushed."""

    raw: bytes
    digest: Digest
    media_type: str
    children: tuple[Descriptor, ...] = ()
    blobs: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = field(default=None)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def parse_manifest(raw: bytes, *, declared: str | None = None, digest: Digest | None = None) -> Manifest:
    """Walk a manifest or index. Raise ManifestError for anything we refuse to copy."""
    body = load_json_object(raw)
    media_type = _resolve_media_type(body, declared)
    actual = compute(raw, digest.algorithm if digest else "sha256")
    if media_type in INDEX_TYPES:
        children = tuple(_descriptor(d, "manifests") for d in _list(body, "manifests"))
        for child in children:
            if child.media_type in SCHEMA1_TYPES:
                raise ManifestError(
                    f"index references a Docker schema 1 manifest {child.digest}; "
                    "schema 1 is deprecated and not supported"
                )
        return Manifest(raw, actual, media_type, children=children, subject=_subject(body))
    if media_type == OCI_ARTIFACT_MANIFEST:
        blobs = tuple(_descriptor(d, "blobs") for d in _list(body, "blobs"))
        return Manifest(raw, actual, media_type, blobs=blobs, subject=_subject(body))
    if "config" not in body:
        raise ManifestError(f"{media_type} manifest has no config descriptor")
    config = _descriptor(body["config"], "config")
    layers = tuple(_descriptor(d, "layers") for d in _list(body, "layers"))
    return Manifest(raw, actual, media_type, blobs=(config, *layers), subject=_subject(body))


def load_json_object(raw: bytes, what: str = "manifest", *, bounded: bool = True) -> dict[str, Any]:
    """Parse JSON that must be an object (a manifest, an index, a config, index.json);
    ManifestError naming `what` otherwise. `bounded`: over the size registries accept for a
    manifest is refused before parsing (callers that read with their own limit say False)."""
    if bounded and len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"{what} is {len(raw)} bytes, over the {MAX_MANIFEST_BYTES}-byte limit registries accept"
        )
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as e:
        raise ManifestError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise ManifestError(f"{what} is not a JSON object")
    return body


def _resolve_media_type(body: dict[str, Any], declared: str | None) -> str:
    own = body.get("mediaType")
    if own is not None and not isinstance(own, str):
        raise ManifestError(f"manifest mediaType is not a string: {type(own).__name__}")
    if body.get("schemaVersion") == 1 or own in SCHEMA1_TYPES or declared in SCHEMA1_TYPES:
        raise ManifestError(
            "Docker schema 1 manifests are deprecated and not supported; "
            "rebuild or convert the image to schema 2 or OCI"
        )
    if own is not None:
        if own not in MANIFEST_TYPES:
            raise ManifestError(f"unsupported manifest media type {own!r}")
        return own
    # No mediaType field: only the OCI types allow that (Docker schema 2 requires
    # it, and distribution >= 2.8 refuses a Docker-typed body without it), so
    # the body's own type is the OCI type of its shape, whatever was declared.
    if "manifests" in body:
        return OCI_INDEX
    if declared == OCI_ARTIFACT_MANIFEST or ("blobs" in body and "config" not in body):
        return OCI_ARTIFACT_MANIFEST
    return OCI_MANIFEST


def _list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ManifestError(f"manifest field {key!r} is not a list")
    return value


def _subject(body: dict[str, Any]) -> Descriptor | None:
    return _descriptor(body["subject"], "subject") if body.get("subject") is not None else None


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestError(f"descriptor in {where!r} is not a JSON object")
    media_type = value.get("mediaType")
    digest = value.get("digest")
    size = value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestError(f"descriptor in {where!r} has no mediaType")
    if not isinstance(digest, str):
        raise ManifestError(f"descriptor in {where!r} has no digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestError(f"descriptor {digest!r} in {where!r} has an invalid size {size!r}")
    try:
        parsed = parse_digest(digest)
    except InvalidDigestError as e:
        raise ManifestError(f"descriptor in {where!r}: {e}") from None
    urls = value.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ManifestError(f"descriptor {digest} in {where!r} has malformed urls")
    return Descriptor(media_type, parsed, size, tuple(urls), _platform(value.get("platform")))


def _platform(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    parts = [value.get("os"), value.get("architecture"), value.get("variant")]
    text = "/".join(p for p in parts if isinstance(p, str) and p)
    return text or None
