"""What each destination repository already holds of the image, asked with HEADs only.

The questions stop as soon as the answer is known: a tag that already gives the
image ends them; a top manifest present by digest means only tags are missing.
A repository is skipped blob by blob only when it is known to hold nothing:
distribution answers NAME_UNKNOWN to `tags/list` for a repository that holds
blobs and manifests but no tag (an interrupted copy, an image pushed by digest),
so then the top manifest and the largest blob are asked for first. A copy pushes
every blob before any manifest and starts with the largest, so a repository
lacking both holds nothing of this image worth checking for.

Over a slow link each question costs a round trip, so the questions that do not
depend on each other go out together, and the ones that need the whole image
graph wait for it while the source's child manifests are still arriving.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TypeVar

import anyio

from ..concurrency import Job, run_all
from ..storage import Storage
from ..types.digest import Digest
from .graph import ImageGraph
from .plan import Holdings

T = TypeVar("T")


async def resolve_targets(storage: Storage, targets: Iterable[str]) -> dict[str, Digest | None]:
    """What each target resolves to now, asked concurrently (one round trip)."""
    resolved: dict[str, Digest | None] = {}

    def job(target: str) -> Job:
        async def run() -> None:
            resolved[target] = await storage.resolve(target)

        return run

    await run_all(job(t) for t in dict.fromkeys(targets))
    return resolved


async def take_inventory(
    storage: Storage,
    targets: Sequence[str],
    digest: Digest,
    graph: Callable[[], Awaitable[ImageGraph]],
    limiter: anyio.CapacityLimiter,
    known: Mapping[str, Digest | None] | None = None,
) -> Holdings:
    """Ask `storage` what it holds of the image `digest`; `known`: targets already resolved.

    `graph` gives the image graph once the source has it: only the last questions
    (the largest blob, the children and blobs one by one) need it.
    """
    given = dict(known or {})
    asked = await resolve_targets(storage, (t for t in targets if t not in given))
    resolved = {t: given[t] if t in given else asked[t] for t in dict.fromkeys(targets)}
    if digest in resolved.values():
        return Holdings(resolved, top=True)
    tagged = any(v is not None for v in resolved.values())
    holds: bool | None = True if tagged else None
    has_top = False

    async def ask_holds() -> None:
        nonlocal holds
        holds = await storage.holds_anything()

    async def ask_top() -> None:
        nonlocal has_top
        has_top = await storage.has_manifest(str(digest))

    # both at once; a destination pinned by digest has just been asked for the top manifest
    await run_all([*([] if tagged else [ask_holds]), *([] if str(digest) in resolved else [ask_top])])
    if has_top:
        return Holdings(resolved, top=True)
    if holds is False:
        return Holdings(resolved)
    image = await graph()
    if holds is None:
        largest = max(image.blobs.values(), key=lambda b: b.size, default=None)
        if largest is None or not await storage.has_blob(largest.digest):
            return Holdings(resolved)
    children = await _present(storage.has_manifest, [str(c.digest) for c in image.children], limiter)
    missing = [c for c in image.children if str(c.digest) not in children]
    needed = image.blobs_of([*missing, image.top])
    blobs = await _present(storage.has_blob, needed, limiter)
    return Holdings(
        resolved,
        children=frozenset(c.digest for c in image.children if str(c.digest) in children),
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
