"""The planner: pure. (image graph, what each destination repository holds) -> an ordered plan.

Destinations that share a repository share its work: the blobs and child
manifests go there once, and each tag costs one manifest PUT. Write order is
what keeps every tag safe: blobs, child manifests by digest, then (when more
than one repository is written) the top manifest by digest everywhere, and the
tags last, so no tag moves until every destination holds the whole image.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..types.digest import Digest
from ..types.media import Descriptor, Manifest
from .graph import ImageGraph


@dataclass(frozen=True)
class Holdings:
    """What one destination repository holds of the image, as its storage answered."""

    #: Each destination target (tag, or digest text) -> what it resolves to now.
    targets: Mapping[str, Digest | None]
    #: The top manifest is there by digest.
    top: bool = False
    children: frozenset[Digest] = frozenset()
    blobs: frozenset[Digest] = frozenset()


@dataclass(frozen=True)
class BlobMove:
    descriptor: Descriptor
    #: Try a cross-repository mount from the source first.
    mount: bool


@dataclass(frozen=True)
class RepositoryPlan:
    """The writes to one repository, done once for every destination in it."""

    #: (destination index, target) of every destination in this repository, in the order given.
    members: tuple[tuple[int, str], ...]
    #: Destinations whose target already resolves to the image: nothing to do for them.
    up_to_date: frozenset[int]
    #: The destination whose result counts the shared work (the first one not up to date).
    worker: int | None
    blobs: tuple[BlobMove, ...]
    #: Child manifests to push by digest, leaves first.
    children: tuple[Manifest, ...]
    #: Push the top manifest by digest before any tag moves (several repositories written).
    top_by_digest: bool
    #: (destination index, tag or digest) to put the top manifest under, last of all.
    targets: tuple[tuple[int, str], ...]
    blobs_skipped: int
    manifests_skipped: int


@dataclass(frozen=True)
class Plan:
    top: Manifest
    repositories: tuple[RepositoryPlan, ...]

    @property
    def writes(self) -> bool:
        return any(r.worker is not None for r in self.repositories)


def group_by_repository(identities: Sequence[Hashable]) -> list[list[int]]:
    """Indices of destinations that share a repository, grouped, in first-seen order."""
    groups: dict[Hashable, list[int]] = {}
    for index, identity in enumerate(identities):
        groups.setdefault(identity, []).append(index)
    return list(groups.values())


def make_plan(
    graph: ImageGraph,
    members: Sequence[Sequence[tuple[int, str]]],
    holdings: Sequence[Holdings],
    mountable: Sequence[bool],
) -> Plan:
    """One `RepositoryPlan` per repository: `members[i]` holds `holdings[i]`."""
    digest = graph.top.digest
    writing = sum(
        1
        for group, held in zip(members, holdings, strict=True)
        if any(held.targets[t] != digest for _, t in group)
    )
    plans = [
        _plan_repository(graph, tuple(group), held, mount, several=writing > 1)
        for group, held, mount in zip(members, holdings, mountable, strict=True)
    ]
    return Plan(graph.top, tuple(plans))


def protected_moves(
    digest: Digest,
    members: Sequence[Sequence[tuple[int, str]]],
    holdings: Sequence[Holdings],
    protect: Sequence[str],
) -> list[tuple[int, str, Digest]]:
    """(destination index, tag, current digest) of each protected tag that would move.

    A tag is protected when it matches a pattern (shell-style, `*` every tag). Moving
    it is refused only when it exists and holds another digest: a new tag, or one that
    already holds the image, is fine.
    """
    out = []
    for group, held in zip(members, holdings, strict=True):
        for index, target in group:
            current = held.targets[target]
            if target == str(digest) or current is None or current == digest:
                continue
            if any(fnmatchcase(target, pattern) for pattern in protect):
                out.append((index, target, current))
    return out


def _plan_repository(
    graph: ImageGraph, members: tuple[tuple[int, str], ...], held: Holdings, mount: bool, *, several: bool
) -> RepositoryPlan:
    digest = graph.top.digest
    up_to_date = frozenset(i for i, t in members if held.targets[t] == digest)
    pending = [(i, t) for i, t in members if i not in up_to_date]
    if not pending or held.top:
        return RepositoryPlan(
            members,
            up_to_date,
            pending[0][0] if pending else None,
            (),
            (),
            False,
            _targets(pending, str(digest), top_there=True),
            len(graph.blobs),
            len(graph.children),
        )
    children = tuple(c for c in graph.children if c.digest not in held.children)
    needed = graph.blobs_of([*children, graph.top])
    moves = sorted(
        (BlobMove(blob, mount) for d, blob in needed.items() if d not in held.blobs),
        key=lambda move: -move.descriptor.size,  # the longest transfers start first
    )
    return RepositoryPlan(
        members,
        up_to_date,
        pending[0][0],
        tuple(moves),
        children,
        several,
        _targets(pending, str(digest), top_there=several),
        len(graph.blobs) - len(moves),
        len(graph.children) - len(children),
    )


def _targets(pending: list[tuple[int, str]], digest: str, *, top_there: bool) -> tuple[tuple[int, str], ...]:
    """Tags each cost one PUT; a digest target needs one only if nothing else puts the top there."""
    out: list[tuple[int, str]] = []
    for i, t in pending:
        if t != digest and t not in {target for _, target in out}:
            out.append((i, t))
    if out or top_there:
        return tuple(out)
    return tuple(pending[:1])
