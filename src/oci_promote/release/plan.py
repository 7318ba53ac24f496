"""`plan`: pin every source, look at every destination, write nothing to any registry.

Steps, each concurrent and bounded by the session's one limiter:

1. expand the entries: tag filters list the source repository's tags once per repository;
2. resolve every source tag to a digest, once per (repository, tag);
3. read each distinct image once (manifests only) and find its referrers (a required type
   that is missing is a problem);
4. ask each destination repository what it holds of each image (HEADs: the engine's
   inventory): what it lacks, which tags would move, which protected tags would move;
5. ask each destination repository whether it takes a write, leaving nothing behind: open an
   upload session and delete it (ECR says NAME_UNKNOWN for a repository nobody created).

Problems are collected, not raised one by one, so one run names them all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from ..concurrency import Job, run_all
from ..engine.graph import ImageGraph
from ..engine.inventory import take_inventory
from ..engine.plan import Holdings
from ..errors import PromoteError
from ..referrers.carry import ReferrerOptions
from ..types.digest import Digest
from ..types.reference import Reference, parse_reference
from . import checks
from .checks import conflicts
from .file import Image, PromotionFile, map_repository
from .images import read_image
from .model import PlanFile, PlannedDestination, PlannedEntry
from .session import Session
from .shard import assign_shards

log = logging.getLogger("oci_promote")
#: Tags asked for per page when a tag filter lists a source repository.
TAGS_PAGE = 1000


@dataclass
class Expanded:
    """One image to promote: an entry with its tag filter applied."""

    entry: int
    image: Image
    source: Reference
    destinations: list[Reference]
    digest: Digest | None = None
    graph: ImageGraph | None = None
    referrers: list[str] = field(default_factory=list)
    planned: list[PlannedDestination] = field(default_factory=list)
    failed: bool = False
    #: Destination repository -> the blobs (digest -> size) it lacks of this image.
    missing: dict[tuple[str, ...], dict[Digest, int]] = field(default_factory=dict)


async def plan_release(
    promotion: PromotionFile, session: Session, *, shards: int | str = 1, probe_writes: bool = True
) -> PlanFile:
    """Plan the release (reads only); the plan's `problems` say what stops it."""
    problems: list[str] = []
    expanded = await _expand(promotion, session, problems)

    async def look() -> None:
        await _resolve(expanded, session, problems)
        await _read_images(promotion, expanded, session, problems)
        await _inventory(promotion, expanded, session, problems)

    async def probe() -> None:
        users: dict[tuple[str, str], list[Expanded]] = {}
        firsts: dict[tuple[str, str], Reference] = {}
        for e in expanded:
            for ref in e.destinations:
                users.setdefault((ref.registry, ref.repository), []).append(e)
                firsts.setdefault((ref.registry, ref.repository), ref)
        wanted = {ref: users[key][0].source for key, ref in firsts.items()}
        for ref, err in (await checks.probe_writes(wanted, session)).items():
            entries = users[(ref.registry, ref.repository)]
            for e in entries:
                e.failed = True
            names = ", ".join(dict.fromkeys(f"images[{e.entry}]" for e in entries))
            problems.append(f"destination {ref.name} refuses writes ({err}); needed by {names}")

    # the write probe needs only the destinations' names: it goes out with the first questions
    await run_all([look, probe] if probe_writes else [look])
    entries = [_planned(promotion, n + 1, e) for n, e in enumerate(x for x in expanded if not x.failed)]
    _count_bytes_once(expanded, entries)
    problems.extend(conflicts(entries))
    count = assign_shards(entries, shards)
    throttled = [{"registry": r, "pauses": n, "seconds": s} for r, (n, s) in session.throttling().items()]
    return PlanFile.model_validate(
        {
            "shards": count,
            "entries": [e.model_dump() for e in entries],
            "problems": problems,
            "throttled": throttled,
        }
    )


def _destinations(promotion: PromotionFile, image: Image, source: Reference) -> list[Reference]:
    """The entry's destinations; one without tag takes the source's (or is pinned by digest only)."""
    texts = image.to
    if texts is None:
        registry = promotion.effective(image, "to_registry")
        strip, add = promotion.effective(image, "strip_prefix"), promotion.effective(image, "add_prefix")
        texts = [map_repository(source, registry, strip, add)]
    out: dict[str, Reference] = {}
    for text in texts:
        ref = parse_reference(text, default_tag=None)
        if ref.tag is None and ref.digest is None and source.tag is not None:
            ref = ref.with_tag(source.tag)
        out.setdefault(str(ref), ref)
    return list(out.values())


async def _expand(promotion: PromotionFile, session: Session, problems: list[str]) -> list[Expanded]:
    out: list[Expanded | list[Expanded]] = []
    jobs: list[Job] = []
    for n, image in enumerate(promotion.images):
        source = image.source_reference
        if image.tags is None:
            out.append(Expanded(n, image, source, _destinations(promotion, image, source)))
            continue
        slot: list[Expanded] = []
        out.append(slot)
        jobs.append(_lister(n, image, promotion, session, slot, problems))
    await run_all(jobs, session.lookups)
    flat: list[Expanded] = []
    for item in out:
        flat.extend(item if isinstance(item, list) else [item])
    return flat


def _lister(
    n: int,
    image: Image,
    promotion: PromotionFile,
    session: Session,
    slot: list[Expanded],
    problems: list[str],
) -> Job:
    async def run() -> None:
        source = image.source_reference
        storage = session.source(source)
        tags: list[str] = []
        last: str | None = None
        try:
            while True:
                page = await storage.list_tags(last=last, limit=TAGS_PAGE)
                tags.extend(page.tags)
                if not page.next:
                    break
                last = page.next
        except PromoteError as e:
            problems.append(f"images[{n}] {image.source}: cannot list its tags: {e}")
            return
        assert image.tags is not None
        chosen = sorted(t for t in dict.fromkeys(tags) if image.tags.matches(t))
        if not chosen:
            problems.append(
                f"images[{n}] {image.source}: no tag matches its filter ({len(tags)} tag(s) seen)"
            )
        for tag in chosen:
            ref = source.with_tag(tag)
            slot.append(Expanded(n, image, ref, _destinations(promotion, image, ref)))

    return run


async def _resolve(expanded: list[Expanded], session: Session, problems: list[str]) -> None:
    """Each source tag resolved once, concurrently; digest-pinned sources need no question."""
    wanted: dict[tuple[str, str, str], Reference] = {}
    for e in expanded:
        if e.source.digest is not None:
            e.digest = e.source.digest
        elif e.source.tag is not None:
            wanted.setdefault((e.source.registry, e.source.repository, e.source.tag), e.source)
    found: dict[tuple[str, str, str], Digest | PromoteError | None] = {}

    def job(key: tuple[str, str, str], ref: Reference) -> Job:
        async def run() -> None:
            try:
                found[key] = await session.source(ref).resolve(key[2])
            except PromoteError as err:
                found[key] = err

        return run

    await run_all((job(k, r) for k, r in wanted.items()), session.lookups)
    for e in expanded:
        if e.digest is not None or e.source.tag is None:
            continue
        got = found[(e.source.registry, e.source.repository, e.source.tag)]
        if isinstance(got, Digest):
            e.digest = got
        else:
            _fail(e, problems, f"source tag not found ({got})" if got else "source tag not found")
            continue
        expected = e.image.expected
        if expected is not None and expected != e.digest:
            _fail(e, problems, f"is {e.digest}, but expected-digest is {expected}")


def _fail(e: Expanded, problems: list[str], message: str) -> None:
    e.failed = True
    problems.append(f"images[{e.entry}] {e.source}: {message}")


async def _read_images(
    promotion: PromotionFile, expanded: list[Expanded], session: Session, problems: list[str]
) -> None:
    """Each distinct image read once (manifests, not blobs), and its referrers found."""
    Key = tuple[str, str, str, bool]
    graphs: dict[Key, ImageGraph | PromoteError] = {}
    found: dict[tuple[Key, ReferrerOptions], list[str]] = {}
    todo: dict[Key, list[Expanded]] = {}
    for e in expanded:
        if not e.failed and e.digest is not None:
            todo.setdefault(_image_key(promotion, e), []).append(e)

    def job(key: Key, users: list[Expanded]) -> Job:
        async def run() -> None:
            e = users[0]
            assert e.digest is not None
            options = list(dict.fromkeys(_referrer_options(promotion, u.image) for u in users))
            try:
                graph, referrers = await read_image(
                    session,
                    session.source(e.source),
                    e.digest,
                    f"{e.source.name}@{e.digest}",
                    foreign=key[3],
                    options=options,
                )
            except PromoteError as err:
                graphs[key] = err
                return
            graphs[key] = graph
            found.update(((key, o), [str(r.digest) for r in got]) for o, got in referrers.items())

        return run

    await run_all((job(k, users) for k, users in todo.items()), session.lookups)
    for e in expanded:
        if e.failed or e.digest is None:
            continue
        key = _image_key(promotion, e)
        got = graphs[key]
        if isinstance(got, PromoteError):
            _fail(e, problems, str(got))
        else:
            e.graph, e.referrers = got, found[(key, _referrer_options(promotion, e.image))]


def _image_key(promotion: PromotionFile, e: Expanded) -> tuple[str, str, str, bool]:
    foreign = bool(promotion.effective(e.image, "include_foreign_layers"))
    return (e.source.registry, e.source.repository, str(e.digest), foreign)


def _referrer_options(promotion: PromotionFile, image: Image) -> ReferrerOptions:
    enabled = promotion.effective(image, "referrers")
    return ReferrerOptions(
        enabled if enabled is not None else True,
        tuple(promotion.effective(image, "referrer_types") or ()),
        tuple(promotion.effective(image, "require_referrers") or ()),
    )


async def _inventory(
    promotion: PromotionFile, expanded: list[Expanded], session: Session, problems: list[str]
) -> None:
    """What each destination repository holds of each image; moves and protected moves."""

    def job(e: Expanded, repo: list[Reference]) -> Job:
        async def run() -> None:
            assert e.digest is not None and e.graph is not None
            pinned = [r for r in repo if r.digest is not None and r.digest != e.digest]
            if pinned:
                _fail(
                    e, problems, f"destination {pinned[0]} names another digest than the source's {e.digest}"
                )
                return
            storage = session.destination(repo[0], e.source)
            targets = [r.tag or str(e.digest) for r in repo]
            graph = e.graph

            async def image() -> ImageGraph:
                return graph

            try:
                held = await take_inventory(storage, targets, e.digest, image, session.lookups)
            except PromoteError as err:
                _fail(e, problems, f"destination {repo[0].name}: {err}")
                return
            top = str(e.digest)
            session.holdings[(storage.identity, top)] = Holdings(
                {top: e.digest if held.top else None}, held.top, held.children, held.blobs
            )
            protect = promotion.effective(e.image, "protect") or []
            for ref, target in zip(repo, targets, strict=True):
                current = held.targets.get(target)
                shown = f"{ref.name}:{ref.tag}" if ref.tag else ref.name
                if (
                    ref.tag
                    and current not in (None, e.digest)
                    and any(fnmatchcase(ref.tag, p) for p in protect)
                ):
                    _fail(
                        e,
                        problems,
                        f"destination {shown}: tag {ref.tag} is protected and holds {current}; "
                        f"it would move to {e.digest}",
                    )
                e.planned.append(
                    PlannedDestination(
                        reference=shown, tag=ref.tag, current=str(current) if current else None
                    )
                )
            if not held.top:
                missing_children = [c for c in graph.children if c.digest not in held.children]
                needed = graph.blobs_of([*missing_children, graph.top])
                lacking = {d: b.size for d, b in needed.items() if d not in held.blobs}
                e.missing.setdefault(storage.identity, {}).update(lacking)

        return run

    jobs: list[Job] = []
    for e in expanded:
        if e.failed or e.graph is None:
            continue
        by_repo: dict[tuple[str, str], list[Reference]] = {}
        for ref in e.destinations:
            by_repo.setdefault((ref.registry, ref.repository), []).append(ref)
        jobs.extend(job(e, refs) for refs in by_repo.values())
    await run_all(jobs)


def _planned(promotion: PromotionFile, n: int, e: Expanded) -> PlannedEntry:
    assert e.digest is not None and e.graph is not None
    options = _referrer_options(promotion, e.image)
    return PlannedEntry(
        id=n,
        entry=e.entry,
        source=str(e.source),
        pinned=f"{e.source.name}@{e.digest}",
        digest=str(e.digest),
        media_type=e.graph.top.media_type,
        destinations=_in_file_order(e),
        protect=list(promotion.effective(e.image, "protect") or []),
        referrers=options.enabled,
        referrer_types=list(options.types),
        require_referrers=list(options.required),
        include_foreign_layers=bool(promotion.effective(e.image, "include_foreign_layers")),
        tags_to_move=sum(1 for d in e.planned if d.tag and d.current != str(e.digest)),
        referrer_digests=e.referrers,
    )


def _in_file_order(e: Expanded) -> list[PlannedDestination]:
    """The destinations as the file lists them (their repositories were asked concurrently)."""
    order = {f"{r.name}:{r.tag}" if r.tag else r.name: n for n, r in enumerate(e.destinations)}
    return sorted(e.planned, key=lambda d: order.get(d.reference, len(order)))


def _count_bytes_once(expanded: list[Expanded], entries: list[PlannedEntry]) -> None:
    """Bytes each entry sends: a blob counted once per destination repository (the first entry
    that needs it sends it; the others find it there)."""
    counted: set[tuple[tuple[str, ...], Digest]] = set()
    ok = [e for e in expanded if not e.failed]
    for e, planned in zip(ok, entries, strict=True):
        for identity, blobs in e.missing.items():
            for digest, size in blobs.items():
                if (identity, digest) not in counted:
                    counted.add((identity, digest))
                    planned.bytes += size
                    planned.blobs += 1
