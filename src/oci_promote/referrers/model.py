"""Typed values for referrers: what a referrer is, how it was found, and its index entry.

A referrer is a manifest that points at another one (its *subject*): a signature, an
attestation, an SBOM. The spec's descriptor for it carries ``artifactType`` and the
manifest's annotations, so tools can choose what to pull without pulling everything; the
rules for computing them from the manifest live here, once ("Pushing Manifests with Subject").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..types.digest import Digest, compute
from ..types.media import INDEX_TYPES, load_json_object
from ..types.referrer import Annotations, ReferrerDescriptor, annotations_of, digest_of

#: How a referrer was found at the source: the OCI 1.1 referrers API, the referrers tag
#: schema's index at tag ``<alg>-<hex>``, or a digest tag such as cosign's ``<alg>-<hex>.sig``.
How = Literal["api", "tag-schema", "digest-tag"]


@dataclass(frozen=True)
class Referrer:
    """A referrer found at the source, with the manifest bytes to copy verbatim."""

    subject: Digest
    descriptor: ReferrerDescriptor
    how: How
    #: The digest tag it was found under (``how == "digest-tag"``), else None.
    tag: str | None = None
    #: 1 for a referrer of the image (or of one of its child manifests), 2 for a referrer
    #: of a referrer (a signature on an SBOM), and so on.
    depth: int = 1
    #: The manifest's media types of its layers (blobs), used for type requirements.
    layer_types: tuple[str, ...] = ()
    manifest: bytes = field(default=b"", repr=False, compare=False)
    #: The source's tag schema index that listed it (``how == "tag-schema"``), so a
    #: destination without one gets the same bytes (and digest).
    listed_in: bytes = field(default=b"", repr=False, compare=False)

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest


@dataclass(frozen=True)
class ManifestFacts:
    """What the referrers logic needs to know of one manifest's JSON."""

    media_type: str
    artifact_type: str | None
    annotations: Annotations
    subject: Digest | None
    config_media_type: str | None
    layer_types: tuple[str, ...]


def manifest_facts(raw: bytes, declared_media_type: str | None = None) -> ManifestFacts:
    """Read artifactType, annotations, subject and layer types of a manifest or index."""
    body = load_json_object(raw, "manifest")
    own = body.get("mediaType")
    media_type = own if isinstance(own, str) and own else declared_media_type or ""
    is_index = media_type in INDEX_TYPES or (not media_type and "manifests" in body)
    config = body.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    layers = body.get("layers") if isinstance(body.get("layers"), list) else body.get("blobs")
    layer_types = tuple(
        d["mediaType"]
        for d in (layers if isinstance(layers, list) else [])
        if isinstance(d, dict) and isinstance(d.get("mediaType"), str)
    )
    subject = body.get("subject")
    return ManifestFacts(
        media_type=media_type,
        artifact_type=_artifact_type(body, is_index, config_type),
        annotations=annotations_of(body.get("annotations")),
        subject=digest_of(subject) if isinstance(subject, dict) else None,
        config_media_type=config_type if isinstance(config_type, str) else None,
        layer_types=layer_types,
    )


def _artifact_type(body: dict[str, Any], is_index: bool, config_type: Any) -> str | None:
    """The spec's rule: the manifest's artifactType; else, for an image manifest only, the
    config's mediaType; an index without one has none."""
    own = body.get("artifactType")
    if isinstance(own, str) and own:
        return own
    if not is_index and isinstance(config_type, str) and config_type:
        return config_type
    return None


def descriptor_for_manifest(raw: bytes, media_type: str) -> ReferrerDescriptor:
    """The index entry that describes these manifest bytes, as the spec requires it."""
    facts = manifest_facts(raw, media_type)
    return ReferrerDescriptor(
        media_type=facts.media_type or media_type,
        digest=compute(raw),
        size=len(raw),
        artifact_type=facts.artifact_type,
        annotations=facts.annotations,
    )
