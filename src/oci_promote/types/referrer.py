"""A referrer's descriptor: one entry of a referrers list (the API's answer or a tag schema index).

A value, below the transport that reads referrers API answers and the referrers logic
that writes indexes; :mod:`oci_promote.referrers.model` computes it from manifest bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidDigestError
from .digest import Digest, parse_digest

Annotations = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ReferrerDescriptor:
    """One entry of a referrers list (an image index's ``manifests``)."""

    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: Annotations = ()

    @property
    def annotation_map(self) -> dict[str, str]:
        return dict(self.annotations)

    def to_index_entry(self) -> dict[str, Any]:
        """The descriptor as a JSON object for a referrers index (spec field order)."""
        entry: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.artifact_type:
            entry["artifactType"] = self.artifact_type
        if self.annotations:
            entry["annotations"] = dict(self.annotations)
        return entry


def annotations_of(value: Any) -> Annotations:
    if not isinstance(value, dict):
        return ()
    return tuple((k, v) for k, v in value.items() if isinstance(k, str) and isinstance(v, str))


def digest_of(value: Mapping[str, Any]) -> Digest | None:
    text = value.get("digest")
    if not isinstance(text, str):
        return None
    try:
        return parse_digest(text)
    except InvalidDigestError:
        return None


def parse_index_descriptor(value: Any) -> ReferrerDescriptor | None:
    """One entry of a referrers index; None for an entry we cannot use (skipped, not fatal)."""
    if not isinstance(value, dict):
        return None
    media_type, size = value.get("mediaType"), value.get("size")
    digest = digest_of(value)
    if not isinstance(media_type, str) or digest is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return None
    artifact_type = value.get("artifactType")
    return ReferrerDescriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        artifact_type=artifact_type if isinstance(artifact_type, str) and artifact_type else None,
        annotations=annotations_of(value.get("annotations")),
    )
