"""`explain(A, B)`: why two references have different digests, as a list of causes.

Indexes are compared per platform (children paired by platform, so causes
name it); an index on one side and an image on the other is a platform
pulled out of the index, or an image wrapped in one. Several causes can hold
at once and all are reported. Reads nothing but what a cause needs.
"""

from __future__ import annotations

from functools import partial

from ..causes import INDEX_WRAPPED, OTHER, PLATFORM_EXTRACTED, PLATFORMS_DIFFER, Cause, Comparison, Side
from ..concurrency import both, gather
from ..types.media import INDEX_TYPES
from .documents import document_causes, keyed_entries
from .images import compare_images
from .reader import DEFAULT_LIMITS, Limits, SourceReader
from .tree import Node, Tree, platform_text


async def explain(
    reader_a: SourceReader, reader_b: SourceReader, *, limits: Limits = DEFAULT_LIMITS
) -> Comparison:
    """Compare the images A and B name; `causes` is empty exactly when their digests agree.

    Raises PromoteError (one clear line) when either side cannot be read or is
    hostile: a descriptor whose bytes do not match, a config over the size cap,
    indexes nested beyond the depth limit.
    """
    a, b = Tree(reader_a, limits), Tree(reader_b, limits)
    top_a, top_b = await both(a.top, b.top)
    causes = [] if top_a.digest == top_b.digest else await compare_nodes(a, top_a, b, top_b)
    unique = tuple(dict.fromkeys(causes))
    return Comparison(
        Side(reader_a.description, top_a.digest, top_a.media_type),
        Side(reader_b.description, top_b.digest, top_b.media_type),
        unique,
    )


async def compare_nodes(a: Tree, na: Node, b: Tree, nb: Node) -> list[Cause]:
    if na.is_index and nb.is_index:
        return await _compare_indexes(a, na, b, nb)
    if na.is_index:
        return await _index_and_image(a, na, b, nb, extracted=True)
    if nb.is_index:
        return await _index_and_image(b, nb, a, na, extracted=False)
    return await compare_images(a, na, b, nb, na.platform or nb.platform)


async def _compare_indexes(a: Tree, na: Node, b: Tree, nb: Node) -> list[Cause]:
    causes = document_causes(na, nb, "index", na.platform or nb.platform)
    keyed_a, keyed_b = keyed_entries(na), keyed_entries(nb)
    added = [k for k in keyed_b if k not in keyed_a]
    removed = [k for k in keyed_a if k not in keyed_b]
    if added or removed:
        parts = [
            f"{label} {', '.join(keys)}" for label, keys in (("added", added), ("removed", removed)) if keys
        ]
        detail = f"A's index has {len(keyed_a)} manifest(s), B's {len(keyed_b)}: {'; '.join(parts)}"
        causes.append(Cause(PLATFORMS_DIFFER, detail, na.platform, "index.manifests"))
    pairs = [
        (keyed_a[key][0], keyed_b[key][0])
        for key in keyed_a
        if key in keyed_b and keyed_a[key][1].get("digest") != keyed_b[key][1].get("digest")
    ]
    children = await gather(partial(_pair, a, na, i, b, nb, j) for i, j in pairs)
    for child_a, child_b in children:
        causes.extend(await compare_nodes(a, child_a, b, child_b))
    return causes


async def _pair(a: Tree, na: Node, i: int, b: Tree, nb: Node, j: int) -> tuple[Node, Node]:
    return await both(partial(a.child, na, i), partial(b.child, nb, j))


async def _index_and_image(
    index_tree: Tree, index: Node, image_tree: Tree, image: Node, *, extracted: bool
) -> list[Cause]:
    """One side an index, the other an image: find the image among the index's children.

    `extracted`: A is the index (B was pulled out of it); else B is the index (it wraps A).
    """
    code = PLATFORM_EXTRACTED if extracted else INDEX_WRAPPED
    children = index.manifest.children
    exact = [i for i, c in enumerate(children) if str(c.digest) == image.digest]
    if exact:
        platform = _entry_platform(index, exact[0])
        return [
            Cause(code, _relation(index, platform, extracted, rewritten=False), platform, "index.manifests")
        ]
    config = await image_tree.config(image)
    wanted = config.platform() if config else None
    match = _match_platform(index, wanted)
    if match is None:
        platforms = ", ".join(keyed_entries(index)) or "none"
        which = ("A", "B") if extracted else ("B", "A")
        detail = (
            f"{which[0]} is an index ({platforms}); {which[1]} is a single {wanted or 'unknown'} "
            f"image that is none of its children"
        )
        return [Cause(OTHER, detail, wanted, "index.manifests")]
    platform = _entry_platform(index, match) or wanted
    child = await index_tree.child(index, match)
    cause = Cause(code, _relation(index, platform, extracted, rewritten=True), platform, "index.manifests")
    pair = (child, image) if extracted else (image, child)
    trees = (index_tree, image_tree) if extracted else (image_tree, index_tree)
    return [cause, *await compare_nodes(trees[0], pair[0], trees[1], pair[1])]


def _relation(index: Node, platform: str | None, extracted: bool, *, rewritten: bool) -> str:
    how = "rewritten (see the other causes)" if rewritten else "byte for byte"
    others = len(index.entries()) - 1
    if extracted:
        return (
            f"B is the {platform or 'only'} image of A's index ({others} other manifest(s) left out), {how}"
        )
    return f"B is an index whose {platform or 'only'} child is A, {how}; it holds {others} other manifest(s)"


def _entry_platform(index: Node, i: int) -> str | None:
    return platform_text(index.entries()[i].get("platform"))


def _match_platform(index: Node, wanted: str | None) -> int | None:
    """The child for platform `wanted`: exact, then by os/arch alone, then the only image child."""
    entries = index.entries()
    texts = [(platform_text(e.get("platform")) or "").split(":")[0] for e in entries]
    if wanted:
        for exact in (True, False):
            for i, text in enumerate(texts):
                if text == wanted if exact else text.split("/")[:2] == wanted.split("/")[:2]:
                    return i
    images = [i for i, c in enumerate(index.manifest.children) if c.media_type not in INDEX_TYPES]
    return images[0] if len(images) == 1 else None
