"""The referrers of an image in an OCI layout used as a source: manifests whose `subject` is it.

A layout has no referrers API, and tools store referrers differently: oras and regclient
add them to `index.json` untagged, or keep them only as blobs, others write a
`sha256-<hex>` referrers index. What they share is the manifest's own `subject`, so every
blob small enough to be a manifest is read once and its subject noted, listed or not.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from ..errors import PromoteError
from ..types.digest import Digest, compute, parse_digest
from ..types.media import MANIFEST_TYPES, MAX_MANIFEST_BYTES
from ..types.referrer import ReferrerDescriptor, annotations_of


def scan_subjects(path: Path) -> dict[Digest, tuple[ReferrerDescriptor, ...]]:
    """Subject → the manifests in `path`'s blobs that refer to it, ordered by digest."""
    found: defaultdict[Digest, list[ReferrerDescriptor]] = defaultdict(list)
    for algorithm in sorted((path / "blobs").glob("*")):
        for blob in sorted(algorithm.iterdir()) if algorithm.is_dir() else ():
            subject, descriptor = _refers(blob)
            if subject is not None and descriptor is not None:
                found[subject].append(descriptor)
    return {subject: tuple(sorted(ds, key=lambda d: str(d.digest))) for subject, ds in found.items()}


def _refers(blob: Path) -> tuple[Digest | None, ReferrerDescriptor | None]:
    try:
        if blob.name.startswith(".") or not blob.is_file() or blob.stat().st_size > MAX_MANIFEST_BYTES:
            return None, None
        with blob.open("rb") as handle:
            if handle.read(1) != b"{":  # layers (tar, gzip, zstd) are skipped after one byte
                return None, None
            raw = b"{" + handle.read()
        body = json.loads(raw)
    except (OSError, ValueError):
        return None, None
    subject = body.get("subject") if isinstance(body, dict) else None
    media_type = body.get("mediaType") if isinstance(body, dict) else None
    if not isinstance(subject, dict) or not isinstance(subject.get("digest"), str):
        return None, None
    if media_type not in MANIFEST_TYPES:
        media_type = "application/vnd.oci.image.manifest.v1+json"  # mediaType is optional in OCI
    try:
        subject_digest = parse_digest(subject["digest"])
    except PromoteError:  # not a digest
        return None, None
    # A listing's entry: discovery fetches the manifest by digest and reads its types from it.
    artifact_type = body.get("artifactType")
    descriptor = ReferrerDescriptor(
        media_type,
        compute(raw),
        len(raw),
        artifact_type if isinstance(artifact_type, str) and artifact_type else None,
        annotations_of(body.get("annotations")),
    )
    return subject_digest, descriptor
