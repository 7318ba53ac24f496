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
from functools import partial
from typing import TypeVar

import anyio

from ..concurrency import both, gather
from ..storage import Storage
from ..types.digest import Digest
from .graph import ImageGraph
from .plan import Holdings

T = TypeVar("T")


async def resolve_targets(storage: Storage, targets: Iterable[str]) -> dict[str, Digest | None]:
    """What each target resolves to now, asked concurrently (one round trip)."""
    asked = list(dict.fromkeys(targets))
    return dict(zip(asked, await gather(partial(storage.resolve, t) for t in asked), strict=True))


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

    async def ask_holds() -> bool | None:
        return True if tagged else await storage.holds_anything()

    async def ask_top() -> bool:
        # a destination pinned by digest has just been asked for the top manifest
        return False if str(digest) in resolved else await storage.has_manifest(str(digest))

    holds, has_top = await both(ask_holds, ask_top)
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
    asked = list(items)
    answers = await gather((partial(ask, i) for i in asked), limiter)
    return {item for item, there in zip(asked, answers, strict=True) if there}
