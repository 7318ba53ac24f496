"""Read one image for the release: its manifests (the engine's graph) and its referrers, once
per process (kept in the session), the referrers looked for while a plain index's children load.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..concurrency import run_all
from ..engine.graph import ImageGraph, load_graph
from ..referrers.carry import ReferrerOptions, find_referrers
from ..referrers.model import Referrer
from ..storage import Storage
from ..storage.verified import load_top
from ..types.digest import Digest
from ..types.media import INDEX_TYPES
from .session import Session


async def read_image(
    session: Session,
    storage: Storage,
    digest: Digest,
    where: str,
    *,
    foreign: bool,
    options: Sequence[ReferrerOptions],
) -> tuple[ImageGraph, dict[ReferrerOptions, tuple[Referrer, ...]]]:
    """The image `digest` in `storage` and its referrers for each of `options` (the session's
    copies when this process read them already)."""
    identity, text = storage.identity, str(digest)
    graph = session.graphs.get((identity, text, foreign))
    found = {
        o: session.referrers[(identity, text, o)] for o in options if (identity, text, o) in session.referrers
    }
    wanted = [o for o in options if o not in found]
    if graph is not None and not wanted:
        return graph, found

    async def referrers(subjects: list[Digest]) -> None:
        for o in wanted:
            found[o] = session.referrers[(identity, text, o)] = await _find(storage, subjects, o, where)

    if graph is None:
        top = await load_top(storage, str(digest), digest, where)
        loaded: list[ImageGraph] = []

        async def load() -> None:
            loaded.append(await load_graph(storage, top, where, include_foreign=foreign))

        async def plain() -> None:
            await referrers([top.digest, *(c.digest for c in top.children)])

        nested = any(c.media_type in INDEX_TYPES for c in top.children)
        await run_all([load] if nested else [load, plain])
        graph = session.graphs[(identity, text, foreign)] = loaded[0]
        if not nested:
            return graph, found
    await referrers([graph.top.digest, *(c.digest for c in graph.children)])
    return graph, found


async def _find(
    storage: Storage, subjects: list[Digest], options: ReferrerOptions, where: str
) -> tuple[Referrer, ...]:
    if not options.enabled and not options.required:
        return ()
    return (await find_referrers(storage, subjects, options, where)).carry
