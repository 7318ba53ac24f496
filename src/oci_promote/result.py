"""What a copy did, per destination: the library's return value and the CLI's `--json`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ReferrerCopy:
    """One signature, attestation or SBOM at one destination, and what the copy did with it."""

    digest: str
    artifact_type: str | None
    subject: str
    #: How the destination lists it: "api" (it indexes referrers itself), "tag-schema"
    #: (the ``<alg>-<hex>`` index we keep), "digest-tag" (cosign's ``.sig``/``.att``/``.sbom``).
    how: str
    tag: str | None
    #: "copied", "merged" (a digest tag, see referrers.digest_tags) or "present".
    action: str


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
    #: Signatures, attestations and SBOMs carried (or, in a dry run, to carry).
    referrers: list[ReferrerCopy] = field(default_factory=list)
    referrers_copied: int = 0
    referrers_present: int = 0

    def count_blob(self, how: str, size: int) -> None:
        """One blob stored here: mounted, or copied with its bytes."""
        if how == "mounted":
            self.blobs_mounted += 1
        else:
            self.blobs_copied += 1
            self.bytes_copied += size


@dataclass
class CopyResult:
    source: str
    digest: str
    media_type: str
    dry_run: bool
    destinations: list[DestinationResult] = field(default_factory=list)
    #: Referrers found at the source (before --referrer-type), and how many the copy kept.
    referrers_found: int = 0
    referrers_kept: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
