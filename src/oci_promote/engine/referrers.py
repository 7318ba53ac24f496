"""The engine's side of carrying referrers: one plan per destination repository, and the
executor's `before_tags` step that writes them (the work itself is in :mod:`oci_promote.referrers`)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from ..concurrency import Job, gather, run_all
from ..errors import PromoteError
from ..referrers.carry import DestinationReferrers, plan_destination
from ..referrers.model import Referrer
from ..storage import Storage
from .execute import NOTHING_MOVED, Target
from .plan import Plan


async def plan_all(
    plan: Plan, targets: Sequence[Target], referrers: Sequence[Referrer]
) -> list[tuple[Target, DestinationReferrers]]:
    """One referrers plan per destination repository (its first destination counts it)."""
    if not referrers:
        return []
    chosen = [targets[r.members[0][0]] for r in plan.repositories]
    found = await gather(partial(_plan_at, target, referrers) for target in chosen)
    pairs = list(zip(chosen, found, strict=True))
    for target, carried in pairs:
        target.result.referrers = carried.entries
        target.result.referrers_copied = sum(e.action != "present" for e in carried.entries)
        target.result.referrers_present = sum(e.action == "present" for e in carried.entries)
    return pairs


async def _plan_at(target: Target, referrers: Sequence[Referrer]) -> DestinationReferrers:
    try:
        return await plan_destination(target.storage, referrers)
    except PromoteError as e:
        e.at_destination(target.label, "nothing was written")
        raise


def write_all(source: Storage, carried: Sequence[tuple[Target, DestinationReferrers]]) -> Job:
    """The executor's `before_tags` step: every destination's referrers, concurrently."""
    return partial(run_all, (partial(_write_at, source, t, c) for t, c in carried if c.writes))


async def _write_at(source: Storage, target: Target, plan: DestinationReferrers) -> None:
    from ..referrers.write import write_destination  # only a copy with referrers to write loads it

    try:
        await write_destination(source, plan)
    except PromoteError as e:
        e.at_destination(target.label, NOTHING_MOVED)
        raise
