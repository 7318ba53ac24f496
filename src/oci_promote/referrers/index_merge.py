"""Keep a destination's referrers tag schema index up to date, without losing anyone's entry.

For a destination without the referrers API (no ``OCI-Subject`` on the manifest PUT), the
spec makes the pushing client maintain the index at ``<alg>-<hex>``: read it, keep every
descriptor already there, add ours (no duplicates, by digest), write it. Two writers can
race; we read the index back after writing, and when an entry of ours is gone (someone
overwrote it with their own merge) we merge again, a bounded number of times.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ReferrersError, ReferrersIndexConflictError
from ..storage import Storage
from ..storage.verified import stored_or_none
from ..types.digest import Digest
from ..types.media import INDEX_TYPES, OCI_INDEX, load_json_object
from ..types.referrer import ReferrerDescriptor
from .naming import referrers_tag

#: How many times an index that changed under us is merged again before giving up.
MERGE_ATTEMPTS = 4


@dataclass(frozen=True)
class MergedIndex:
    """The index to write, or None when the existing one already lists every descriptor."""

    raw: bytes | None
    added: tuple[Digest, ...]


def _entries(existing: bytes | None, tag: str) -> tuple[dict[str, Any], list[Any]]:
    if existing is None:
        return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}, []
    body = load_json_object(existing, f"referrers index {tag}")
    manifests = body.get("manifests")
    if body.get("mediaType", OCI_INDEX) not in INDEX_TYPES or not isinstance(manifests, list):
        # The spec: a tag that holds something other than an index is a failure to report,
        # never something to overwrite.
        raise ReferrersError(f"tag {tag} at the destination is not an image index; not replacing it")
    return body, manifests


def listed_digests(index: bytes) -> set[str]:
    """The digests an index lists (as strings, as written)."""
    manifests = load_json_object(index, "referrers index").get("manifests")
    return {m["digest"] for m in manifests or [] if isinstance(m, dict) and isinstance(m.get("digest"), str)}


def merge_index(
    existing: bytes | None,
    ours: Sequence[ReferrerDescriptor],
    *,
    tag: str = "referrers index",
    template: bytes | None = None,
) -> MergedIndex:
    """Merge ``ours`` into the destination's index bytes (None: no index yet).

    Every entry already there is kept verbatim (order, fields, unknown keys), ours are
    appended in order, none twice. ``template`` is the source's own tag schema index: when
    the destination has none and the template lists exactly our digests, its bytes are used
    as they are, so both registries serve the same index."""
    body, manifests = _entries(existing, tag)
    present = {m.get("digest") for m in manifests if isinstance(m, dict)}
    additions: list[ReferrerDescriptor] = []
    for descriptor in ours:
        if str(descriptor.digest) not in present:
            present.add(str(descriptor.digest))
            additions.append(descriptor)
    if not additions:
        return MergedIndex(None, ())
    added = tuple(d.digest for d in additions)
    if existing is None and template is not None and listed_digests(template) == {str(d) for d in added}:
        return MergedIndex(template, added)
    body = dict(body)
    body["manifests"] = [*manifests, *(d.to_index_entry() for d in additions)]
    return MergedIndex(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(), added)


@dataclass(frozen=True)
class IndexUpdate:
    tag: str
    added: tuple[Digest, ...]
    #: Index writes made (0 when the destination already listed everything).
    writes: int


async def update_referrers_index(
    storage: Storage,
    subject: Digest,
    ours: Sequence[ReferrerDescriptor],
    *,
    template: bytes | None = None,
    attempts: int = MERGE_ATTEMPTS,
) -> IndexUpdate:
    """Read, merge, write, read back; merge again while someone else's write dropped ours."""
    tag = referrers_tag(subject)
    wanted = {str(d.digest) for d in ours}
    added: tuple[Digest, ...] = ()
    current = await stored_or_none(storage, tag)
    for attempt in range(attempts):  # every pass that goes round has written once
        merged = merge_index(current.raw if current else None, ours, tag=tag, template=template)
        if merged.raw is None:
            return IndexUpdate(tag, added, attempt)
        await storage.put_manifest(tag, merged.raw, OCI_INDEX)
        added = tuple(dict.fromkeys((*added, *merged.added)))
        current = await stored_or_none(storage, tag)
        if current is not None and wanted <= listed_digests(current.raw):
            return IndexUpdate(tag, added, attempt + 1)
    raise ReferrersIndexConflictError(tag, attempts)
