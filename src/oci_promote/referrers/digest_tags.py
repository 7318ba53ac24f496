"""What to do when a destination already holds a digest tag (``<alg>-<hex>.sig`` …).

A digest tag is mutable and names no content, so two registries can hold different things
under the same name; overwriting would silently drop whatever only the destination had.
The decision, per tag:

* absent at the destination, or the same bytes: copy verbatim, or do nothing;
* cosign's ``.sig`` and ``.att``: **merge**, because the format allows it and cosign does
  the same. Each is an image manifest whose layers are one signature (simplesigning
  payload + ``dev.cosignproject.cosign/signature`` annotation) or one DSSE attestation
  each, and ``cosign sign`` itself *appends* a layer to an existing ``.sig``. When one side's
  layers contain the other's, the fuller side wins unchanged (source bytes copied verbatim,
  or nothing written); when both hold layers the other lacks, the result is the
  destination's layers followed by the source's new ones, with a config built the way
  cosign (go-containerregistry's ``empty.Image`` + ``mutate.Append``) builds it. That
  manifest is new bytes, so its digest is new; nobody pins the digest of a ``.sig``
  manifest, and ``cosign verify`` checks each layer on its own.
* anything else (``.sbom``, other suffixes, a ``.sig`` that does not look like cosign's):
  **refuse** with :class:`DigestTagConflictError` before anything is written. An SBOM has
  no meaning as a union of two SBOMs, and for unknown formats we cannot know.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import DigestTagConflictError
from ..storage import StoredManifest
from ..types.media import DOCKER_MANIFEST, OCI_MANIFEST, load_json_object
from .naming import cosign_suffix

#: Layer media types cosign writes, one signature or attestation per layer.
MERGEABLE_LAYER_TYPES = {
    ".sig": frozenset({"application/vnd.dev.cosign.simplesigning.v1+json"}),
    ".att": frozenset({"application/vnd.dsse.envelope.v1+json"}),
}
_ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class TagAction:
    """What the copy does with one digest tag at one destination."""

    action: Literal["write", "keep", "merge"]
    #: Bytes to PUT at the tag (None for "keep").
    manifest: bytes | None
    media_type: str
    #: "merge" only: the config blob to store before the manifest.
    config: bytes | None = None
    reason: str = ""


def go_json(value: Any) -> bytes:
    """JSON as Go's ``encoding/json`` writes it (compact, ``<>&`` and U+2028/9 escaped), so a
    manifest we rebuild has the form the Go tools would give it."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def cosign_config(layers: list[dict[str, Any]]) -> bytes:
    """The image config cosign writes for a signature image with these layers."""
    return go_json(
        {
            "architecture": "",
            "created": _ZERO_TIME,
            "history": [{"created": _ZERO_TIME} for _ in layers],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
            "config": {},
        }
    )


def _layer_key(layer: dict[str, Any]) -> str:
    return json.dumps(layer, sort_keys=True, separators=(",", ":"))


def _cosign_layers(tag: str, stored: StoredManifest) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    suffix = cosign_suffix(tag)
    allowed = MERGEABLE_LAYER_TYPES.get(suffix or "")
    if allowed is None:
        return None
    body = load_json_object(stored.raw, f"manifest at tag {tag}")
    layers = body.get("layers")
    media_type = body.get("mediaType", stored.media_type)
    if media_type not in (OCI_MANIFEST, DOCKER_MANIFEST) or not isinstance(body.get("config"), dict):
        return None
    if not isinstance(layers, list) or not layers:
        return None
    if not all(isinstance(layer, dict) and layer.get("mediaType") in allowed for layer in layers):
        return None
    return body, layers


def decide_digest_tag(tag: str, source: StoredManifest, destination: StoredManifest | None) -> TagAction:
    """Decide write / keep / merge for one digest tag, or raise DigestTagConflictError."""
    if destination is None:
        return TagAction("write", source.raw, source.media_type or "", reason="absent at the destination")
    if destination.raw == source.raw:
        return TagAction("keep", None, source.media_type or "", reason="the destination has the same bytes")
    ours, theirs = _cosign_layers(tag, source), _cosign_layers(tag, destination)
    if ours is None or theirs is None:
        src, dst = (
            hashlib.sha256(source.raw).hexdigest()[:12],
            hashlib.sha256(destination.raw).hexdigest()[:12],
        )
        raise DigestTagConflictError(tag, f"destination sha256:{dst}…, source sha256:{src}…")
    (_, src_layers), (dst_body, dst_layers) = ours, theirs
    src_keys = [_layer_key(layer) for layer in src_layers]
    dst_keys = {_layer_key(layer) for layer in dst_layers}
    if set(src_keys) <= dst_keys:
        return TagAction(
            "keep", None, destination.media_type or "", reason="the destination holds every source layer"
        )
    if dst_keys <= set(src_keys):
        return TagAction(
            "write", source.raw, source.media_type or "", reason="the source holds every destination layer"
        )
    extra = [layer for layer, key in zip(src_layers, src_keys, strict=True) if key not in dst_keys]
    layers = [*dst_layers, *{_layer_key(layer): layer for layer in extra}.values()]
    config = cosign_config(layers)
    merged = dict(dst_body)
    merged["config"] = {
        "mediaType": dst_body["config"].get("mediaType"),
        "size": len(config),
        "digest": f"sha256:{hashlib.sha256(config).hexdigest()}",
    }
    merged["layers"] = layers
    added = len(layers) - len(dst_layers)
    reason = f"kept the destination's {len(dst_layers)} layers and added the source's {added}"
    return TagAction("merge", go_json(merged), destination.media_type or "", config, reason)
