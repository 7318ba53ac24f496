"""Signatures, attestations and SBOMs: find them at the source, carry them to destinations.

Written against the small storage protocol in :mod:`.store`, so registry and OCI layout
storages plug in unchanged; every HTTP answer is read by the pure functions of
:mod:`.http_answers`. See :mod:`.discover` (finding), :mod:`.index_merge` (the destination's
tag schema index), :mod:`.digest_tags` (cosign's ``.sig``/``.att`` tags) and
:mod:`.artifact_types` (``--referrer-type`` / ``--require-referrer``).
"""

from __future__ import annotations

from .artifact_types import check_required, matches, referrer_types
from .digest_tags import TagAction, decide_digest_tag
from .discover import ApiMemory, Discovery, DiscoveryOptions, discover_referrers, list_tags
from .errors import (
    DigestTagConflictError,
    MissingReferrersError,
    ReferrersError,
    ReferrersIndexConflictError,
    ReferrersListingError,
)
from .http_answers import ApiUnavailable, ReferrersPage, TagPage, read_referrers_answer, read_tags_answer
from .index_merge import IndexUpdate, MergedIndex, merge_index, update_referrers_index
from .model import How, Referrer, ReferrerDescriptor, descriptor_for_manifest
from .naming import digest_tags_for, referrers_tag
from .store import ReferrersReader, ReferrersWriter, StoredManifest

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
    "ReferrersReader",
    "ReferrersWriter",
    "StoredManifest",
    "TagAction",
    "TagPage",
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
