"""The copy, storage to storage: resolve, graph, inventory, plan, execute, verify.

Written against the storage protocol only, so the unit tests run it on the
in-memory storage and the library on registries and layouts alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial

import anyio

from ..concurrency import DEFAULT_JOBS, both, gather
from ..errors import DigestMismatchError, PromoteError, ProtectedTagError
from ..events import DestinationPlanned, EventCallback, PhaseEntered, SourceResolved, plain_callback
from ..referrers.carry import FoundReferrers, ReferrerOptions, find_referrers
from ..result import CopyResult, DestinationResult
from ..storage import Storage
from ..storage.source import Source, at_digest
from ..storage.verified import load_top
from ..types.digest import Digest
from ..types.media import INDEX_TYPES, Manifest
from .execute import Target, execute, verify
from .graph import ImageGraph, load_graph
from .inventory import take_inventory
from .later import Later
from .plan import Holdings, Plan, group_by_repository, make_plan, protected_moves
from .referrers import plan_all, write_all

log = logging.getLogger("oci_promote")
#: What each destination tag resolved to before the inventory started.
Tags = dict[str, Digest | None]


@dataclass(frozen=True)
class Endpoint:
    """A destination as the engine takes it: a name, its tag or digest, and its storage."""

    name: str
    tag: str | None
    digest: Digest | None
    storage: Storage

    @property
    def label(self) -> str:
        """How results and messages name it: with its tag, or bare when pinned by digest."""
        return f"{self.name}:{self.tag}" if self.tag else self.name

    def __str__(self) -> str:
        return self.label + (f"@{self.digest}" if self.digest else "")


async def run_copy(
    source: Source,
    endpoints: Sequence[Endpoint],
    *,
    expected: Digest | None = None,
    expected_from: Source | None = None,
    protect: Sequence[str] = (),
    dry_run: bool = False,
    jobs: int = DEFAULT_JOBS,
    include_foreign_layers: bool = False,
    referrers: ReferrerOptions | None = None,
    on_event: EventCallback | None = None,
) -> CopyResult:
    """Copy the source image to every endpoint, preserving the manifest digest.

    `expected_from`: where the expected digest can be read (default: the source's
    repository), to name the causes of a mismatch. `protect`: tag patterns that
    must not move to another digest (checked before anything is written).
    """
    emit = plain_callback(on_event)
    started = time.monotonic()
    labels = tuple(e.label for e in endpoints)
    where = source.description
    emit(PhaseEntered("resolve", labels))
    log.info("resolving %s", where)
    # A required referrer type is a gate: the destinations hear nothing before the source passes it.
    gate = bool(referrers and referrers.required)
    # Otherwise the source's top manifest and every destination tag are asked together: one round trip.
    top, tags_now = await _resolve_all(source, endpoints, look=not gate)
    digest = top.digest
    log.info("source %s is %s (%s)", where, digest, top.media_type)
    # the source as read now, by digest, for the explanations (a tag could move meanwhile)
    read = at_digest(source.storage, digest, where)
    await _check_expected(where, read, expected, expected_from)
    _check_pinned(digest, endpoints)
    emit(SourceResolved(where, str(digest), top.media_type))
    targets = [
        Target(
            e.label,
            e.storage,
            e.tag or str(digest),
            DestinationResult(e.label, f"{e.name}@{digest}", str(digest), e.tag),
        )
        for e in endpoints
    ]

    emit(PhaseEntered("copy", labels))
    limiter = anyio.CapacityLimiter(jobs)
    loaded = Later[ImageGraph]()

    async def load_images() -> ImageGraph:
        graph = await load_graph(source.storage, top, where, include_foreign=include_foreign_layers)
        loaded.set(graph)
        return graph

    async def find() -> FoundReferrers:
        # the referrers, while the child manifests load and the destinations are asked what
        # they hold: a plain index names every subject itself, a nested one once it is read
        nested = any(c.media_type in INDEX_TYPES for c in top.children)
        children = (await loaded.get()).children if nested else top.children
        subjects = [digest, *(c.digest for c in children)]
        return await find_referrers(source.storage, subjects, referrers or ReferrerOptions(), where)

    inventory_and_plan = partial(_plan, digest, loaded.get, read, targets, tags_now, limiter, protect)
    if gate:
        graph, found = await both(load_images, find)
        plan = await inventory_and_plan()
    else:
        (graph, found), plan = await both(partial(both, load_images, find), inventory_and_plan)
    if graph.foreign:
        log.info("leaving out %d foreign layer(s); --include-foreign-layers copies them", len(graph.foreign))
    carried = await plan_all(plan, targets, found.carry)
    _record_plan(plan, graph, targets, emit)
    if not dry_run:
        try:
            before_tags = write_all(source.storage, carried)
            await execute(plan, graph, source.storage, targets, limiter, emit, before_tags)
            emit(PhaseEntered("verify", labels))
            await verify((t for t in targets if not t.result.up_to_date), read, digest, limiter)
        except PromoteError as e:
            e.tags_moved = tuple(t.label for t in targets if t.moved and t.target != str(digest))
            raise
    for t in targets:
        t.result.seconds = round(time.monotonic() - started, 3)
    result = CopyResult(where, str(digest), top.media_type, dry_run, [t.result for t in targets])
    result.referrers_found, result.referrers_kept = found.found, len({r.digest for r in found.carry})
    return result


async def _resolve_all(
    source: Source, endpoints: Sequence[Endpoint], *, look: bool
) -> tuple[Manifest, list[Tags | PromoteError]]:
    """The source's top manifest, and (`look`) what every destination tag resolves to now, together.

    A destination's failure here is kept and raised by its inventory (not asked again), so it
    comes after any failure of the source's, with the usual context.
    """
    top = partial(load_top, source.storage, source.target, source.digest, source.description)
    looks = partial(gather, [partial(_look, e.storage, e.tag if look else None) for e in endpoints])
    return await both(top, looks)


async def _look(storage: Storage, tag: str | None) -> Tags | PromoteError:
    """What `tag` resolves to now ({} when not asked), or the error asking it raised."""
    if tag is None:
        return {}
    try:
        return {tag: await storage.resolve(tag)}
    except PromoteError as e:
        return e


async def _plan(
    digest: Digest,
    graph: Callable[[], Awaitable[ImageGraph]],
    source: Source,
    targets: list[Target],
    tags_now: list[Tags | PromoteError],
    limiter: anyio.CapacityLimiter,
    protect: Sequence[str],
) -> Plan:
    """Ask each destination repository what it holds (once per repository), then plan.

    A protected tag that would move stops the copy here, before anything is written.
    """
    groups = group_by_repository([t.storage.identity for t in targets])
    members = [[(i, targets[i].target) for i in group] for group in groups]
    holdings = await gather(
        partial(
            _inventory, targets[g[0]], [tags_now[i] for i in g], [t for _, t in m], digest, graph, limiter
        )
        for g, m in zip(groups, members, strict=True)
    )
    image = await graph()
    refused = protected_moves(digest, members, holdings, protect)
    if refused:
        raise await _protected_error(source, digest, [(targets[i], t, d) for i, t, d in refused])
    mountable = [targets[g[0]].storage.can_mount_from(source.storage) for g in groups]
    return make_plan(image, members, holdings, mountable)


async def _inventory(
    first: Target,
    seen: list[Tags | PromoteError],
    tags: list[str],
    digest: Digest,
    graph: Callable[[], Awaitable[ImageGraph]],
    limiter: anyio.CapacityLimiter,
) -> Holdings:
    """What one destination repository holds (`first` does its work), from what its tags
    resolved to before (or the error asking them raised)."""
    try:
        for looked in seen:
            if isinstance(looked, PromoteError):
                raise looked
        known = {t: d for looked in seen if isinstance(looked, dict) for t, d in looked.items()}
        return await take_inventory(first.storage, tags, digest, graph, limiter, known)
    except PromoteError as e:
        e.at_destination(first.label, "nothing was written")
        raise


async def _check_expected(
    where: str, source: Source, expected: Digest | None, expected_from: Source | None
) -> None:
    """The source (read by digest) must be the expected digest; if not, say why, read where told."""
    digest = source.digest
    if expected is None or expected == digest:
        return
    from ..forensics.mismatch import explain_mismatch  # the forensics load only on a mismatch

    wanted = expected_from or at_digest(source.storage, expected)
    why = await explain_mismatch(wanted, source, "A = the expected image, B = the source", str(expected))
    raise DigestMismatchError(
        f"{where} is {digest}, but the expected digest is {expected}; nothing was copied; " + why.clause,
        expected=str(expected),
        got=str(digest),
        comparison=why.comparison,
    )


def _check_pinned(digest: Digest, endpoints: Sequence[Endpoint]) -> None:
    for dest in endpoints:
        if dest.digest is not None and dest.digest != digest:
            raise DigestMismatchError(
                f"destination {dest} names digest {dest.digest}, but the source is {digest}; "
                "nothing was copied",
                expected=str(dest.digest),
                got=str(digest),
            )


async def _protected_error(
    source: Source, digest: Digest, refused: list[tuple[Target, str, Digest]]
) -> ProtectedTagError:
    """Name the first protected tag that would move, its digest, the new one and why they differ."""
    from ..forensics.mismatch import explain_mismatch  # the forensics load only on a mismatch

    dest, tag, current = refused[0]
    roles = f"A = the image {tag} holds, B = the source"
    why = await explain_mismatch(at_digest(dest.storage, current), source, roles, str(current))
    others = f" (and {len(refused) - 1} more protected tag(s))" if len(refused) > 1 else ""
    return ProtectedTagError(
        f"destination {dest.label}: tag {tag} is protected and holds {current}; refusing to move it to "
        f"{digest}{others}; nothing was written anywhere; {why.clause}",
        tag=tag,
        current=str(current),
        new=str(digest),
        comparison=why.comparison,
    )


def _record_plan(plan: Plan, graph: ImageGraph, targets: list[Target], emit: EventCallback) -> None:
    """Fill each destination's result with what the plan found, log it, and say it.

    The destination that does a repository's shared work counts it; the others in
    the same repository count everything as already there (only their tag moves).
    """
    for repository in plan.repositories:
        for index, _ in repository.members:
            dest = targets[index]
            r = dest.result
            r.up_to_date = index in repository.up_to_date
            r.blobs_skipped, r.manifests_skipped = len(graph.blobs), len(graph.children) + r.up_to_date
            if r.up_to_date:
                log.info("%s already has %s; nothing to send", dest.label, r.digest)
            elif index == repository.worker and (repository.blobs or repository.children):
                r.blobs_missing = len(repository.blobs)
                r.bytes_missing = sum(m.descriptor.size for m in repository.blobs)
                r.blobs_skipped, r.manifests_skipped = repository.blobs_skipped, repository.manifests_skipped
                log.info(
                    "%s lacks %d blob(s) (%d bytes) and %d manifest(s)",
                    dest.label,
                    r.blobs_missing,
                    r.bytes_missing,
                    len(repository.children) + 1,
                )
            else:
                log.info("%s: the repository has (or gets) the image; only the tag moves", dest.label)
            emit(
                DestinationPlanned(
                    dest.label, r.pinned, r.up_to_date, r.blobs_missing, r.bytes_missing, r.blobs_skipped
                )
            )
