"""What a copy did, per destination: the library's return value and the CLI's `--json`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class DestinationResult:
    reference: str
    pinned: str
    digest: str
    tag: str | None
    up_to_date: bool = False
    blobs_copied: int = 0
    blobs_mounted: int = 0
    blobs_skipped: int = 0
    bytes_copied: int = 0
    manifests_pushed: int = 0
    manifests_skipped: int = 0
    #: What the plan found missing (what a dry run would send).
    blobs_missing: int = 0
    bytes_missing: int = 0
    seconds: float = 0.0


@dataclass
class CopyResult:
    source: str
    digest: str
    media_type: str
    dry_run: bool
    destinations: list[DestinationResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
