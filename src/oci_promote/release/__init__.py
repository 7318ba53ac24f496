"""Promote a whole release: promotion file -> plan -> staged shards -> one commit -> lock.

The front ends (the CLI's `plan`/`stage`/`commit`/`apply`/`export`/`verify --lock`, the
Action's modes) call these entry points; their names and signatures stay stable:

    from oci_promote.release import (
        ReleaseOptions, load_promotion, read_plan, read_lock,
        plan_release_file, stage_shard, commit_release, apply_release, export_lock, verify_lock,
    )

    options = ReleaseOptions(connect=ConnectOptions(...), jobs=8,
                             source_credential=None, destination_credential=None)
    promotion = load_promotion("promote.yaml")            # PromotionFileError (exit 2) lists every problem
    plan = await plan_release_file(promotion, options, shards="auto")   # PlanFile; plan.problems
    plan.to_json(); plan.matrix()                          # {"include": [{"shard": "1/N"}, ...]}
    plan.table(); plan.summary()                           # rows (header first) and a totals line
    plan = read_plan("plan.json"); k = parse_shard("2/4", plan)
    staged = await stage_shard(plan, k, options)           # StageResult; no tag moves
    result = await commit_release(plan, options)           # CommitResult(lock, moved, kept, throttled),
                                                           #   or IncompleteReleaseError /
                                                           #   ProtectedTagError (nothing moved)
    write_lock(result.lock, "promoted.lock.json"); lock_json(result.lock); read_lock(path)
    plan, staged, result = await apply_release(promotion, options)   # one process; PlanProblemsError
    text = export_lock(lock, "kustomize" | "helm" | "env")
    outcomes = await verify_lock(lock, options)            # list[VerifyOutcome]; all(o.ok ...)

`on_progress` (optional, on the stage/commit/apply calls) receives `ReleaseProgress` rows.
Modules: file (the promotion file's schema), model (the plan file), plan, shard, stage,
commit, lock (the lock file and export), session (shared pools, per-registry budgets),
lines (YAML locations for problems), api (these entry points). Throttling (429 Retry-After)
per registry is in `StageResult.throttled`, `CommitResult.throttled` and `PlanFile.throttled`.
"""

from __future__ import annotations

from .api import (
    PlanProblemsError,
    ReleaseOptions,
    apply_release,
    commit_release,
    plan_release_file,
    stage_shard,
    verify_lock,
)
from .commit import CommitResult, IncompleteReleaseError
from .file import Defaults, LockFile, PromotionFile, PromotionFileError, load_promotion, parse_promotion
from .lock import export_lock, lock_json, read_lock, write_lock
from .model import PlanFile, parse_shard, read_plan
from .stage import ReleaseProgress, StageResult

__all__ = [
    "CommitResult",
    "Defaults",
    "IncompleteReleaseError",
    "LockFile",
    "PlanFile",
    "PlanProblemsError",
    "PromotionFile",
    "PromotionFileError",
    "ReleaseOptions",
    "ReleaseProgress",
    "StageResult",
    "apply_release",
    "commit_release",
    "export_lock",
    "load_promotion",
    "lock_json",
    "parse_promotion",
    "parse_shard",
    "plan_release_file",
    "read_lock",
    "read_plan",
    "stage_shard",
    "verify_lock",
    "write_lock",
]
