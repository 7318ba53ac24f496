"""Destination checks made across the whole release: repositories that refuse a write, and
destination tags two entries would give two digests.

The write check leaves nothing behind: it opens an upload session and deletes it (ECR answers
NAME_UNKNOWN for a repository nobody created; a read-only mirror or a user without push
rights refuses the POST), so a release stops at `plan`, before any shard writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..concurrency import Job, run_all
from ..errors import PromoteError
from ..storage.registry import RegistryStorage
from ..types.reference import Reference
from .model import PlannedEntry
from .session import Session

if TYPE_CHECKING:
    from .plan import Expanded


async def probe_writes(expanded: list[Expanded], session: Session, problems: list[str]) -> None:
    """Open an upload session in each destination repository and delete it at once."""
    repos: dict[tuple[str, str], tuple[Reference, list[Expanded]]] = {}
    for e in expanded:
        for ref in e.destinations:
            repos.setdefault((ref.registry, ref.repository), (ref, []))[1].append(e)

    def job(ref: Reference, users: list[Expanded]) -> Job:
        async def run() -> None:
            storage = session.destination(ref, users[0].source)
            if not isinstance(storage, RegistryStorage):
                return
            try:
                location = await storage.client.start_upload(storage.repository)
            except PromoteError as err:
                for e in users:
                    e.failed = True
                names = ", ".join(dict.fromkeys(f"images[{e.entry}]" for e in users))
                problems.append(f"destination {ref.name} refuses writes ({err}); needed by {names}")
                return
            await storage.client.cancel_upload(location)

        return run

    await run_all((job(ref, users) for ref, users in repos.values()), session.lookups)


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
