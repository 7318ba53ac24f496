"""Signatures, attestations and SBOMs: find them at the source, carry them to destinations.

Written against the one storage protocol (:class:`oci_promote.storage.Storage`), so a
registry, an OCI layout and the in-memory storage plug in unchanged; the registry's HTTP
answers are read by :mod:`oci_promote.transport.referrers_api`. See :mod:`.discover`
(finding), :mod:`.carry` (what each destination lacks) and :mod:`.write` (writing it),
:mod:`.index_merge` (the destination's tag schema index), :mod:`.digest_tags` (cosign's
``.sig``/``.att`` tags) and :mod:`.artifact_types` (``--referrer-type`` / ``--require-referrer``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import (
    DigestTagConflictError,
    MissingReferrersError,
    ReferrersError,
    ReferrersIndexConflictError,
    ReferrersListingError,
)
from ..lazy import lazy_exports
from ..transport.referrers_api import ApiUnavailable, ReferrersPage, read_referrers_answer, read_tags_answer
from ..types.referrer import ReferrerDescriptor
from .artifact_types import check_required, matches, referrer_types
from .discover import ApiMemory, Discovery, DiscoveryOptions, discover_referrers, list_tags
from .model import How, Referrer, descriptor_for_manifest
from .naming import digest_tags_for, referrers_tag

# What only writing referrers needs loads on first use (PEP 562): every copy looks for
# referrers, most find none.
if TYPE_CHECKING:
    from .digest_tags import TagAction, decide_digest_tag
    from .index_merge import IndexUpdate, MergedIndex, merge_index, update_referrers_index

_HOMES: dict[str, tuple[str, ...]] = {
    "digest_tags": ("TagAction", "decide_digest_tag"),
    "index_merge": ("IndexUpdate", "MergedIndex", "merge_index", "update_referrers_index"),
}
__getattr__ = lazy_exports(__name__, _HOMES)


__all__ = [
    "ApiMemory",
    "ApiUnavailable",
    "DigestTagConflictError",
    "Discovery",
    "DiscoveryOptions",
    "How",
    "IndexUpdate",
    "MergedIndex",
    "MissingReferrersError",
    "Referrer",
    "ReferrerDescriptor",
    "ReferrersError",
    "ReferrersIndexConflictError",
    "ReferrersListingError",
    "ReferrersPage",
    "TagAction",
    "check_required",
    "decide_digest_tag",
    "descriptor_for_manifest",
    "digest_tags_for",
    "discover_referrers",
    "list_tags",
    "matches",
    "merge_index",
    "read_referrers_answer",
    "read_tags_answer",
    "referrer_types",
    "referrers_tag",
    "update_referrers_index",
]
