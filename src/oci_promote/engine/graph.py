"""An image as a graph: the top manifest, every child manifest (leaves first) and the blobs.

Every manifest is checked against the digest that asked for it before it is
parsed; the bytes kept are the bytes served, so they can be pushed verbatim.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from ..concurrency import gather
from ..errors import ManifestError
from ..storage import Storage
from ..storage.verified import load_child
from ..types.digest import Digest
from ..types.media import MAX_NESTING, Descriptor, Manifest


@dataclass(frozen=True)
class ImageGraph:
    """Everything an image consists of, deduplicated, with manifests in push order."""

    top: Manifest
    #: Child manifests, each after its own children (leaves first).
    children: tuple[Manifest, ...]
    #: The blobs to copy (foreign layers only when asked for), in first-seen order.
    blobs: dict[Digest, Descriptor]
    #: Non-distributable layers left out.
    foreign: tuple[Descriptor, ...]

    def blobs_of(self, manifests: Iterable[Manifest]) -> dict[Digest, Descriptor]:
        """The blobs of `self.blobs` that these manifests reference."""
        return {b.digest: b for m in manifests for b in m.blobs if b.digest in self.blobs}

    def waves(self, manifests: Iterable[Manifest]) -> list[list[Manifest]]:
        """Group child manifests by height, so each group's children come in an earlier group."""
        height: dict[Digest, int] = {}
        for manifest in self.children:  # leaves first, so children's heights are known
            height[manifest.digest] = 1 + max(
                (height.get(c.digest, -1) for c in manifest.children), default=-1
            )
        wanted = list(manifests)
        waves: list[list[Manifest]] = [[] for _ in range(max(height.values(), default=-1) + 1)]
        for manifest in wanted:
            waves[height[manifest.digest]].append(manifest)
        return [w for w in waves if w]


async def load_graph(source: Storage, top: Manifest, where: str, *, include_foreign: bool) -> ImageGraph:
    """Fetch every child manifest (concurrently, level by level) and collect the blobs."""
    fetched: dict[Digest, Manifest] = {top.digest: top}
    level = [top]
    for _depth in range(MAX_NESTING):
        wanted = {c.digest: c for m in level for c in m.children if c.digest not in fetched}
        if not wanted:
            break
        level = await gather(partial(load_child, source, d, where) for d in wanted.values())
        fetched.update((m.digest, m) for m in level)
    else:
        raise ManifestError(f"{where}: indexes nested deeper than {MAX_NESTING} levels")

    order: list[Manifest] = []
    seen: set[Digest] = set()

    def visit(manifest: Manifest) -> None:
        for child in manifest.children:
            if child.digest not in seen:
                seen.add(child.digest)
                visit(fetched[child.digest])
                order.append(fetched[child.digest])

    visit(top)
    blobs: dict[Digest, Descriptor] = {}
    foreign: dict[Digest, Descriptor] = {}
    for manifest in [*order, top]:
        for blob in manifest.blobs:
            (blobs if include_foreign or not blob.is_foreign else foreign).setdefault(blob.digest, blob)
    return ImageGraph(top, tuple(order), blobs, tuple(foreign.values()))
