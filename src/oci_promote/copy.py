"""The digest-preserving copy: plan what each destination lacks, then send only that.

Order is what keeps every tag safe: blobs, then child manifests by digest,
then (with several destinations) the top manifest by digest everywhere, then
the tags. A tag therefore never points at a partial image, and with several
destinations no tag moves until every destination holds the whole image.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

from .digest import Digest, DigestVerifier, compute
from .errors import (
    DigestMismatchError,
    IncompleteSourceError,
    ManifestError,
    NotFoundError,
    PromoteError,
    RegistryError,
)
from .media import Descriptor, Manifest
from .reference import Reference
from .registry import RegistryClient
from .sources import ImageSource
from .upload import BlobUploader

log = logging.getLogger("oci_promote")
T = TypeVar("T")
_MAX_DEPTH = 8


@dataclass
class DestinationResult:
    reference: str
    pinned: str
    digest: str
    tag: str | None
    up_to_date: bool = False
    blobs_copied: int = 0
    blobs_mounted: int = 0
    blobs_skipped: int = 0
    bytes_copied: int = 0
    manifests_pushed: int = 0
    manifests_skipped: int = 0
    #: What the plan found missing (what a dry run would send).
    blobs_missing: int = 0
    bytes_missing: int = 0
    seconds: float = 0.0
    #: Bytes of blobs still on their way, for progress reports; not part of the result.
    bytes_in_flight: int = field(default=0, repr=False, compare=False)

    def summary(self, dry_run: bool) -> str:
        """One human line: what a dry run would send, or what the copy did."""
        if dry_run:
            state = "up to date" if self.up_to_date else f"would send {self.blobs_missing} blob(s)"
            size = human_size(self.bytes_missing)
            return f"{self.reference}: {state} ({size}), {self.blobs_skipped} already there"
        return (
            f"{self.pinned}: {self.blobs_copied} blob(s) copied, {self.blobs_mounted} mounted, "
            f"{self.blobs_skipped} skipped, {human_size(self.bytes_copied)}, {self.seconds:.2f} s"
        )


def human_size(n: int) -> str:
    """Bytes in decimal units, as registries and CI logs show them."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


@dataclass
class CopyResult:
    source: str
    digest: str
    media_type: str
    dry_run: bool
    destinations: list[DestinationResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for dest in data["destinations"]:
            del dest["bytes_in_flight"]
        return data


@dataclass
class ImageGraph:
    """Everything an image consists of, deduplicated, with manifests in push order."""

    top: Manifest
    #: Child manifests, each after its own children (leaves first).
    children: list[Manifest]
    blobs: dict[Digest, Descriptor]
    foreign: list[Descriptor]
    include_foreign: bool

    def blobs_of(self, manifests: Iterable[Manifest]) -> dict[Digest, Descriptor]:
        """The blobs these manifests need copied (foreign layers only when asked for)."""
        out: dict[Digest, Descriptor] = {}
        for manifest in manifests:
            for blob in manifest.blobs:
                if self.include_foreign or not blob.is_foreign:
                    out.setdefault(blob.digest, blob)
        return out


@dataclass
class Destination:
    reference: Reference
    client: RegistryClient
    uploader: BlobUploader
    tag: str | None
    result: DestinationResult
    started: float = field(default_factory=time.monotonic)
    up_to_date: bool = False
    top_present: bool = False
    missing_children: list[Manifest] = field(default_factory=list)
    blob_moves: list[tuple[Descriptor, Literal["mount", "upload"]]] = field(default_factory=list)

    @property
    def repository(self) -> str:
        return self.reference.repository

    @property
    def label(self) -> str:
        return str(self.reference.with_digest(None)) if self.tag else self.reference.name


async def load_graph(source: ImageSource, top: Manifest, include_foreign: bool) -> ImageGraph:
    """Fetch every child manifest (concurrently, level by level) and collect the blobs."""
    fetched: dict[Digest, Manifest] = {top.digest: top}
    level = [top]
    for _depth in range(_MAX_DEPTH):
        wanted = {c.digest: c for m in level for c in m.children if c.digest not in fetched}
        if not wanted:
            break
        level = list(await asyncio.gather(*(source.fetch_child(c) for c in wanted.values())))
        fetched.update((m.digest, m) for m in level)
    else:
        raise ManifestError(f"{source.description}: indexes nested deeper than {_MAX_DEPTH} levels")

    order: list[Manifest] = []
    seen: set[Digest] = set()

    def visit(manifest: Manifest) -> None:
        for child in manifest.children:
            if child.digest not in seen:
                seen.add(child.digest)
                visit(fetched[child.digest])
                order.append(fetched[child.digest])

    visit(top)
    everything = [*order, top]
    blobs: dict[Digest, Descriptor] = {}
    foreign: dict[Digest, Descriptor] = {}
    for manifest in everything:
        for blob in manifest.blobs:
            (blobs if include_foreign or not blob.is_foreign else foreign).setdefault(blob.digest, blob)
    return ImageGraph(top, order, blobs, list(foreign.values()), include_foreign)


async def plan_destination(
    dest: Destination,
    graph: ImageGraph,
    source: ImageSource,
    sem: asyncio.Semaphore,
) -> None:
    """Find out, with HEADs only, what `dest` lacks. Writes nothing."""
    digest = graph.top.digest
    client, repo = dest.client, dest.repository
    target = dest.tag or str(digest)
    head = await client.head_manifest(repo, target)
    if head is not None and await _head_digest(client, repo, target, head.digest) == str(digest):
        dest.up_to_date = True
        dest.result.up_to_date = True
        dest.result.blobs_skipped = len(graph.blobs)
        dest.result.manifests_skipped = len(graph.children) + 1
        return
    exists = True if head is not None else await client.repository_exists(repo)
    if exists is not False and dest.tag is not None:
        dest.top_present = await client.head_manifest(repo, str(digest)) is not None
    if dest.top_present:
        dest.result.blobs_skipped = len(graph.blobs)
        dest.result.manifests_skipped = len(graph.children)
        return
    missing_children = list(graph.children)
    if exists is not False:  # a repository that does not exist holds nothing: skip the HEADs
        found = await _bounded(
            sem, ((dest, client.head_manifest(repo, str(c.digest))) for c in graph.children)
        )
        missing_children = [c for c, f in zip(graph.children, found, strict=True) if f is None]
    needed = graph.blobs_of([*missing_children, graph.top])
    present_blobs: set[Digest] = set()
    if exists is not False:
        present = await _bounded(sem, ((dest, client.blob_exists(repo, d)) for d in needed))
        present_blobs = {d for d, p in zip(needed, present, strict=True) if p}
    dest.missing_children = missing_children
    dest.result.manifests_skipped = len(graph.children) - len(missing_children)
    how: Literal["mount", "upload"] = "mount" if _can_mount(source, dest) else "upload"
    dest.blob_moves = [(blob, how) for d, blob in needed.items() if d not in present_blobs]
    dest.result.blobs_skipped = len(graph.blobs) - len(dest.blob_moves)
    dest.result.blobs_missing = len(dest.blob_moves)
    dest.result.bytes_missing = sum(b.size for b, _ in dest.blob_moves)


async def plan(
    destinations: Sequence[Destination],
    graph: ImageGraph,
    source: ImageSource,
    sem: asyncio.Semaphore,
) -> None:
    """Plan every destination; an error names its destination."""

    async def one(dest: Destination) -> None:
        try:
            await plan_destination(dest, graph, source, sem)
        except PromoteError as e:
            e.add_context(f"destination {dest.label}", "nothing was written")
            raise

    outcomes = await asyncio.gather(*(one(d) for d in destinations), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def _head_digest(client: RegistryClient, repo: str, target: str, header: str | None) -> str | None:
    """The digest a tag resolves to; hash the body when the registry sends no digest header."""
    if header:
        return header
    raw, _, _ = await client.get_manifest(repo, target)
    return str(compute(raw))


def _can_mount(source: ImageSource, dest: Destination) -> bool:
    """Blobs can be mounted from another repository of the same registry."""
    if source.registry_location is None:
        return False
    registry, repository = source.registry_location
    return registry == dest.reference.registry and repository != dest.repository


async def move_blob(
    dest: Destination, blob: Descriptor, how: Literal["mount", "upload"], source: ImageSource
) -> None:
    client, repo = dest.client, dest.repository
    what = f"blob {blob.digest} to {dest.label}"
    location: str | None = None
    if how == "mount" and source.registry_location is not None:
        try:
            mount = await client.mount_blob(repo, blob.digest, source.registry_location[1])
        except RegistryError as e:
            log.debug("mount of %s refused (%s); uploading instead", blob.digest.short, e)
        else:
            if mount.mounted:
                dest.result.blobs_mounted += 1
                return
            location = mount.upload_location
    in_flight = [0]  # this blob's bytes counted in dest.result.bytes_in_flight

    def count(n: int) -> None:
        in_flight[0] += n
        dest.result.bytes_in_flight += n

    def body() -> AsyncIterator[bytes]:
        dest.result.bytes_in_flight -= in_flight[0]  # a retry starts the count again
        in_flight[0] = 0
        return _verified(source, blob, count)

    try:
        await dest.uploader.upload(repo, blob.digest, blob.size, body, what, session=location)
    finally:
        dest.result.bytes_in_flight -= in_flight[0]
    dest.result.blobs_copied += 1
    dest.result.bytes_copied += blob.size


async def _verified(
    source: ImageSource, blob: Descriptor, count: Callable[[int], None]
) -> AsyncIterator[bytes]:
    """Stream a blob from the source, checking size and digest as the bytes pass."""
    verifier = DigestVerifier(blob.digest, blob.size)
    try:
        async for chunk in source.open_blob(blob):
            verifier.update(chunk)
            count(len(chunk))
            yield chunk
    except NotFoundError:
        raise IncompleteSourceError(
            f"{source.description}: blob {blob.digest} is missing at the source",
            missing=str(blob.digest),
        ) from None
    verifier.verify(f"{source.description}: blob")


async def push_manifest(dest: Destination, manifest: Manifest, target: str) -> None:
    echoed = await dest.client.put_manifest(dest.repository, target, manifest.raw, manifest.media_type)
    if echoed and echoed != str(manifest.digest):
        raise DigestMismatchError(
            f"{dest.label}: the registry stored the manifest as {echoed}, not {manifest.digest}; "
            "it rewrote the bytes",
            expected=str(manifest.digest),
            got=echoed,
        )
    dest.result.manifests_pushed += 1
    log.info(
        "pushed %s %s to %s",
        _kind(manifest),
        manifest.digest.short,
        f"{dest.reference.name}:{target}"
        if target == dest.tag
        else f"{dest.reference.name}@{manifest.digest.short}",
    )


async def verify_destination(dest: Destination, digest: Digest) -> None:
    target = dest.tag or str(digest)
    head = await dest.client.head_manifest(dest.repository, target)
    got = await _head_digest(dest.client, dest.repository, target, head.digest) if head else None
    if got != str(digest):
        raise DigestMismatchError(
            f"{dest.label} resolves to {got or 'nothing'} after the push, but the source is {digest}",
            expected=str(digest),
            got=got or "nothing",
        )
    log.info("%s resolves to %s", dest.label, got)


async def execute(
    destinations: Sequence[Destination],
    graph: ImageGraph,
    source: ImageSource,
    sem: asyncio.Semaphore,
) -> None:
    """Write in dependency order across all destinations; tags move last, all together.

    A failure before the tag phase leaves every tag where it was; the error
    names the destination that failed.
    """
    pending = [d for d in destinations if not d.up_to_date]
    top = graph.top
    jobs = ((d, move_blob(d, b, how, source)) for d in pending for b, how in d.blob_moves)
    await _bounded(sem, jobs, "no tag was moved")
    for wave in _waves(graph):
        jobs = (
            (d, push_manifest(d, m, str(m.digest))) for d in pending for m in wave if m in d.missing_children
        )
        await _bounded(sem, jobs, "no tag was moved")
    if len(destinations) > 1:
        jobs = ((d, push_manifest(d, top, str(top.digest))) for d in pending if not d.top_present)
        await _bounded(sem, jobs, "no tag was moved")
    tagging = [d for d in pending if d.tag or (len(destinations) == 1 and not d.top_present)]
    moved: list[str] = []

    async def move_tag(dest: Destination) -> None:
        await push_manifest(dest, top, dest.tag or str(top.digest))
        moved.append(dest.label)

    await _bounded(sem, ((d, move_tag(d)) for d in tagging), lambda: _moved_note(moved))


async def verify(destinations: Sequence[Destination], digest: Digest, sem: asyncio.Semaphore) -> None:
    """Resolve every written destination again: it must give the source digest."""
    written = [d for d in destinations if not d.up_to_date]
    await _bounded(sem, ((d, verify_destination(d, digest)) for d in written), "")


def _moved_note(moved: list[str]) -> str:
    return f"tags already moved: {', '.join(moved)}" if moved else "no tag was moved"


def _waves(graph: ImageGraph) -> list[list[Manifest]]:
    """Group child manifests by height so each group's children were pushed before it."""
    height: dict[Digest, int] = {}
    for manifest in graph.children:  # leaves first, so children's heights are known
        height[manifest.digest] = 1 + max((height.get(c.digest, -1) for c in manifest.children), default=-1)
    waves: list[list[Manifest]] = [[] for _ in range(max(height.values(), default=-1) + 1)]
    for manifest in graph.children:
        waves[height[manifest.digest]].append(manifest)
    return waves


async def _bounded(
    sem: asyncio.Semaphore,
    jobs: Iterable[tuple[Destination | None, Awaitable[T]]],
    note: str | Callable[[], str] = "",
) -> list[T]:
    """Run jobs concurrently, at most `sem`'s worth at a time; the first error cancels the rest.

    An error is prefixed with the destination its job was for, and followed by
    `note` (what the failure left behind), so the user learns where and what.
    """

    async def run(dest: Destination | None, job: Awaitable[T]) -> T:
        async with sem:
            try:
                return await job
            except PromoteError as e:
                if dest is not None:
                    after = note() if callable(note) else note
                    e.add_context(f"destination {dest.label}", after)
                raise

    tasks = [asyncio.ensure_future(run(d, j)) for d, j in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _kind(manifest: Manifest) -> str:
    return "index" if manifest.is_index else "manifest"
