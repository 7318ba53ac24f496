"""Destination checks made across the whole release: repositories that refuse a write, and
destination tags two entries would give two digests.

The write check leaves nothing behind: it opens an upload session and deletes it (ECR answers
NAME_UNKNOWN for a repository nobody created; a read-only mirror or a user without push
rights refuses the POST), so a release stops at `plan`, before any shard writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from ..concurrency import gather
from ..errors import PromoteError
from ..storage.registry import RegistryStorage
from ..types.reference import Reference
from .model import PlannedEntry
from .session import Session


async def probe_writes(
    repositories: Mapping[Reference, Reference], session: Session
) -> dict[Reference, PromoteError]:
    """Open an upload session in each destination repository (key: a reference in it; value:
    the source that goes there, for the mount scope) and delete it at once; the refusals."""

    async def probe(ref: Reference, source: Reference) -> PromoteError | None:
        storage = session.destination(ref, source)
        if not isinstance(storage, RegistryStorage):
            return None
        try:
            location = await storage.client.start_upload(storage.repository)
        except PromoteError as err:
            return err
        await storage.client.cancel_upload(location)
        return None

    refs = list(repositories)
    found = await gather((partial(probe, r, repositories[r]) for r in refs), session.lookups)
    return {r: err for r, err in zip(refs, found, strict=True) if err is not None}


def conflicts(entries: list[PlannedEntry]) -> list[str]:
    """Two entries must not give one destination tag two digests."""
    problems: list[str] = []
    claims: dict[str, PlannedEntry] = {}
    for e in entries:
        for d in e.destinations:
            if d.tag is None:
                continue
            first = claims.setdefault(d.reference, e)
            if first.digest != e.digest:
                problems.append(
                    f"images[{e.entry}] {e.source}: destination {d.reference} is also written by "
                    f"images[{first.entry}] {first.source}, with {first.digest}, not {e.digest}"
                )
    return problems
