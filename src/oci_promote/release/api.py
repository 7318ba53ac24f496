"""The release's entry points, for the CLI, the Action and library users (see the package doc)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PromoteError
from ..forensics.verify import VerifyOutcome
from ..options import DEFAULT_JOBS, ConnectOptions
from ..transport.credentials import Credential
from .commit import CommitResult, commit_entries
from .file import LockFile, PromotionFile, load_promotion
from .lock import export_lock, verify_locked
from .model import PlanFile
from .plan import plan_release
from .session import Opener, Session
from .stage import ProgressCallback, StageResult, stage_entries


class PlanProblemsError(PromoteError):
    """The plan found problems (protected tags, refused writes, missing sources); nothing was written."""

    def __init__(self, plan: PlanFile) -> None:
        self.plan = plan
        lines = "\n".join(f"  {p}" for p in plan.problems)
        super().__init__(f"the plan found {len(plan.problems)} problem(s); nothing was written:\n{lines}")


@dataclass(frozen=True)
class ReleaseOptions:
    """How to reach registries, and the one concurrency limit across the release."""

    connect: ConnectOptions = field(default_factory=ConnectOptions)
    jobs: int = DEFAULT_JOBS
    source_credential: Credential | None = None
    destination_credential: Credential | None = None
    #: Opens storages instead of registries (tests, the benchmark's in-memory storages).
    opener: Opener | None = None


@asynccontextmanager
async def open_session(options: ReleaseOptions) -> AsyncIterator[Session]:
    async with AsyncExitStack() as stack:
        yield Session(
            options.connect,
            stack,
            jobs=options.jobs,
            source_credential=options.source_credential,
            destination_credential=options.destination_credential,
            opener=options.opener,
        )


async def plan_release_file(
    promotion: PromotionFile | str | Path,
    options: ReleaseOptions,
    *,
    shards: int | str = 1,
    probe_writes: bool = True,
    session: Session | None = None,
) -> PlanFile:
    """Plan (reads only). The plan's `problems` list what would stop it; check them."""
    file = promotion if isinstance(promotion, PromotionFile) else load_promotion(promotion)
    if session is not None:
        return await plan_release(file, session, shards=shards, probe_writes=probe_writes)
    async with open_session(options) as own:
        return await plan_release(file, own, shards=shards, probe_writes=probe_writes)


async def stage_shard(
    plan: PlanFile,
    shard: int | None,
    options: ReleaseOptions,
    *,
    on_progress: ProgressCallback | None = None,
    session: Session | None = None,
) -> StageResult:
    """Push shard `shard`'s entries by digest (every entry when None); no tag moves."""
    entries = plan.entries if shard is None else plan.shard(shard)
    if session is not None:
        return await stage_entries(entries, session, on_progress)
    async with open_session(options) as own:
        return await stage_entries(entries, own, on_progress)


async def commit_release(
    plan: PlanFile,
    options: ReleaseOptions,
    *,
    on_progress: ProgressCallback | None = None,
    session: Session | None = None,
) -> CommitResult:
    """Check every digest everywhere, then move every tag; `result.lock` is the lock."""
    if session is not None:
        return await commit_entries(plan, session, on_progress)
    async with open_session(options) as own:
        return await commit_entries(plan, own, on_progress)


async def apply_release(
    promotion: PromotionFile | str | Path,
    options: ReleaseOptions,
    *,
    on_progress: ProgressCallback | None = None,
) -> tuple[PlanFile, StageResult, CommitResult]:
    """Plan, stage every entry and commit, in one process and one session: no tag moves
    anywhere until every entry is staged at every destination."""
    async with open_session(options) as session:
        plan = await plan_release_file(promotion, options, session=session)
        if plan.problems:
            raise PlanProblemsError(plan)
        staged = await stage_entries(plan.entries, session, on_progress)
        committed = await commit_entries(plan, session, on_progress)
        return plan, staged, committed


async def verify_lock(lock: LockFile, options: ReleaseOptions) -> list[VerifyOutcome]:
    """Does every destination tag of the lock still give its digest? Causes for each that does not."""
    async with open_session(options) as session:
        return await verify_locked(lock, session)


__all__ = [
    "PlanProblemsError",
    "ReleaseOptions",
    "apply_release",
    "commit_release",
    "export_lock",
    "plan_release_file",
    "stage_shard",
    "verify_lock",
]
