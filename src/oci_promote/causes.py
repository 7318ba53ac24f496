"""The answer to "why do these two digests differ": typed causes, with their contract codes.

The codes are a contract (users and tests match on them); the README's "Why
did my digest change?" section documents each with an example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RESERIALIZED = "reserialized"
MEDIA_TYPE_CONVERTED = "media-type-converted"
PLATFORM_EXTRACTED = "platform-extracted"
INDEX_WRAPPED = "index-wrapped"
PLATFORMS_DIFFER = "platforms-differ"
LAYERS_RECOMPRESSED = "layers-recompressed"
LAYERS_DIFFER = "layers-differ"
CONFIG_DIFFER = "config-differ"
ANNOTATIONS_DIFFER = "annotations-differ"
OTHER = "other"

#: Every code, in the order the human answer mentions them.
CODES = (
    PLATFORM_EXTRACTED,
    INDEX_WRAPPED,
    PLATFORMS_DIFFER,
    MEDIA_TYPE_CONVERTED,
    RESERIALIZED,
    LAYERS_RECOMPRESSED,
    LAYERS_DIFFER,
    CONFIG_DIFFER,
    ANNOTATIONS_DIFFER,
    OTHER,
)


@dataclass(frozen=True)
class Cause:
    """One reason the digests differ, with its evidence.

    `platform` names the image of an index it concerns; `path` where the evidence
    is: the document (`index`, `manifest`, `config`) and, inside it, a JSON path.
    """

    code: str
    detail: str
    platform: str | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "detail": self.detail}
        if self.platform is not None:
            out["platform"] = self.platform
        if self.path is not None:
            out["path"] = self.path
        return out


@dataclass(frozen=True)
class Side:
    """One of the two images compared: the reference as given, its digest and media type."""

    reference: str
    digest: str
    media_type: str

    def to_dict(self) -> dict[str, str]:
        return {"reference": self.reference, "digest": self.digest, "media_type": self.media_type}


@dataclass(frozen=True)
class Comparison:
    """Everything `diff` knows about A and B; `causes` is empty exactly when the digests agree."""

    a: Side
    b: Side
    causes: tuple[Cause, ...] = field(default=())

    @property
    def identical(self) -> bool:
        return self.a.digest == self.b.digest

    @property
    def codes(self) -> set[str]:
        return {cause.code for cause in self.causes}

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "identical": self.identical,
            "causes": [cause.to_dict() for cause in self.causes],
        }
