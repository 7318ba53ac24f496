"""An image as a graph: the top manifest, every child manifest (leaves first) and the blobs.

Every manifest is checked against the digest that asked for it before it is
parsed; the bytes kept are the bytes served, so they can be pushed verbatim.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..concurrency import Job, run_all
from ..errors import DigestMismatchError, IncompleteSourceError, ManifestError, NotFoundError
from ..storage import Storage
from ..types.digest import Digest, compute
from ..types.media import Descriptor, Manifest, parse_manifest

_MAX_DEPTH = 8


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


def verified_manifest(
    raw: bytes,
    where: str,
    *,
    requested: Digest | None,
    declared: str | None,
    header_digest: str | None = None,
    size: int | None = None,
) -> Manifest:
    """Parse manifest bytes after proving they are the bytes that were asked for.

    A source that answers a digest request with other bytes is refused, and so
    is one whose `Docker-Content-Digest` disagrees with the bytes it sent.
    """
    algorithm = requested.algorithm if requested else "sha256"
    actual = compute(raw, algorithm)
    if requested is not None and actual != requested:
        raise DigestMismatchError(
            f"{where} served a manifest whose bytes hash to {actual}, not the {requested} "
            "that was asked for; refusing to copy it",
            expected=str(requested),
            got=str(actual),
        )
    if size is not None and len(raw) != size:
        raise DigestMismatchError(
            f"{where}: manifest {actual} is {len(raw)} bytes, its descriptor says {size}",
            expected=f"{size} bytes",
            got=f"{len(raw)} bytes",
        )
    if header_digest and header_digest.startswith(f"{algorithm}:") and header_digest != str(actual):
        raise DigestMismatchError(
            f"{where} says the manifest digest is {header_digest}, but its bytes hash to {actual}",
            expected=header_digest,
            got=str(actual),
        )
    return parse_manifest(raw, declared=declared, digest=actual)


async def load_top(source: Storage, target: str, requested: Digest | None, where: str) -> Manifest:
    stored = await source.get_manifest(target)
    return verified_manifest(
        stored.raw, where, requested=requested, declared=stored.media_type, header_digest=stored.digest_header
    )


async def load_child(source: Storage, descriptor: Descriptor, where: str) -> Manifest:
    try:
        stored = await source.get_manifest(str(descriptor.digest))
    except NotFoundError:
        raise IncompleteSourceError(
            f"{where}: child manifest {descriptor.digest}"
            f"{f' ({descriptor.platform})' if descriptor.platform else ''} is missing at the "
            "source, so the index cannot be copied whole",
            missing=str(descriptor.digest),
        ) from None
    return verified_manifest(
        stored.raw,
        where,
        requested=descriptor.digest,
        declared=stored.media_type or descriptor.media_type,
        header_digest=stored.digest_header,
        size=descriptor.size,
    )


async def load_graph(source: Storage, top: Manifest, where: str, *, include_foreign: bool) -> ImageGraph:
    """Fetch every child manifest (concurrently, level by level) and collect the blobs."""
    fetched: dict[Digest, Manifest] = {top.digest: top}
    level = [top]
    for _depth in range(_MAX_DEPTH):
        wanted = {c.digest: c for m in level for c in m.children if c.digest not in fetched}
        if not wanted:
            break
        level = []

        def fetch(descriptor: Descriptor, into: list[Manifest] = level) -> Job:
            async def job() -> None:
                into.append(await load_child(source, descriptor, where))

            return job

        await run_all(fetch(d) for d in wanted.values())
        fetched.update((m.digest, m) for m in level)
    else:
        raise ManifestError(f"{where}: indexes nested deeper than {_MAX_DEPTH} levels")

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
