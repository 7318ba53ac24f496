"""What each destination repository already holds of the image, asked with HEADs only.

The questions stop as soon as the answer is known: a tag that already gives the
image ends them; a top manifest present by digest means only tags are missing.
A repository is skipped blob by blob only when it is known to hold nothing:
distribution answers NAME_UNKNOWN to `tags/list` for a repository that holds
blobs and manifests but no tag (an interrupted copy, an image pushed by digest),
so then the top manifest and the largest blob are asked for first. A copy pushes
every blob before any manifest and starts with the largest, so a repository
lacking both holds nothing of this image worth checking for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

import anyio

from .concurrency import Job, run_all
from .graph import ImageGraph
from .plan import Holdings
from .storage import Storage

T = TypeVar("T")


async def take_inventory(
    storage: Storage, targets: Sequence[str], graph: ImageGraph, limiter: anyio.CapacityLimiter
) -> Holdings:
    digest = graph.top.digest
    resolved = {t: await storage.resolve(t) for t in dict.fromkeys(targets)}
    if digest in resolved.values():
        return Holdings(resolved, top=True)
    holds = True if any(v is not None for v in resolved.values()) else await storage.holds_anything()
    # (a destination pinned by digest has just been asked for the top manifest)
    if holds is not False and str(digest) not in resolved and await storage.has_manifest(str(digest)):
        return Holdings(resolved, top=True)
    if holds is False:
        return Holdings(resolved)
    if holds is None:
        largest = max(graph.blobs.values(), key=lambda b: b.size, default=None)
        if largest is None or not await storage.has_blob(largest.digest):
            return Holdings(resolved)
    children = await _present(storage.has_manifest, [str(c.digest) for c in graph.children], limiter)
    missing = [c for c in graph.children if str(c.digest) not in children]
    needed = graph.blobs_of([*missing, graph.top])
    blobs = await _present(storage.has_blob, needed, limiter)
    return Holdings(
        resolved,
        children=frozenset(c.digest for c in graph.children if str(c.digest) in children),
        blobs=frozenset(blobs),
    )


async def _present(
    ask: Callable[[T], Awaitable[bool]], items: Iterable[T], limiter: anyio.CapacityLimiter
) -> set[T]:
    """The items `ask` says are there, asked concurrently."""
    found: set[T] = set()

    def job(item: T) -> Job:
        async def run() -> None:
            if await ask(item):
                found.add(item)

        return run

    await run_all((job(i) for i in items), limiter)
    return found
