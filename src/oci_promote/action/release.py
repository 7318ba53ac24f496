"""The Action's release modes: `plan`, `stage`, `commit`, `apply`, and `verify` of a lock.

A release runs as a workflow: a plan job (`mode: plan`, outputs `matrix` and `plan`), a
matrix of stage jobs (`mode: stage`, `shard: ${{ matrix.shard }}`, `file:` the plan) and a
commit job that needs them all (`mode: commit`, the `lock` output and file). The plan is
passed on as the plan job's output (or as a file, e.g. an artifact): `file` takes a path or
the plan's JSON itself. Every input is checked before any request; the plan and the commit
end as job-summary tables; failures as error annotations, a summary and exit code 1 (2 for
bad input), as in copy mode.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import github_action_utils as gau

from ..errors import PromoteError, UsageError
from ..frontend.present import StageProgressLog
from ..types.reference import parse_registry_host
from . import release_report as summary
from .commands import declare_artifacts, set_outputs, write_summary
from .inputs import ActionInputError, ActionSettings, InputProblem, _credentials_problem
from .report import annotate_failure

if TYPE_CHECKING:
    from ..release import LockFile, PlanFile, ReleaseOptions

log = logging.getLogger("oci_promote")
RELEASE_MODES = ("plan", "stage", "commit", "apply")
DEFAULT_LOCK = "promoted.lock.json"
_T = TypeVar("_T")


def is_release(settings: ActionSettings) -> bool:
    """A release mode, or `verify` of a lock file."""
    return settings.mode in RELEASE_MODES or (settings.mode == "verify" and bool(settings.lock))


@dataclass(frozen=True)
class ReleaseInputs:
    mode: str
    file: str
    shards: str
    shard: str
    lock: str
    options: ReleaseOptions


def read_release_inputs(settings: ActionSettings, problems: list[InputProblem]) -> ReleaseInputs:
    """Every input the mode needs, checked at once; inputs it does not use must be empty."""
    from ..release import ReleaseOptions

    mode = settings.mode
    needs_file = mode in RELEASE_MODES
    if needs_file and not settings.file:
        what = "the promotion file" if mode in ("plan", "apply") else "the plan (a path or its JSON)"
        problems.append(InputProblem("file", f"is required when mode is {mode}: {what}"))
    if mode in ("plan", "apply") and settings.file and not Path(settings.file).is_file():
        problems.append(InputProblem("file", f"no such file: {settings.file}"))
    unused = {
        "source": bool(settings.source),
        "destinations": bool(settings.destinations),
        "expected-digest": settings.expected_digest is not None,
        "file": mode == "verify" and bool(settings.file),
        "shard": mode != "stage" and bool(settings.shard),
        "lock": mode in ("plan", "stage") and bool(settings.lock),
        "dry-run": settings.dry_run,
    }
    for name, given in unused.items():
        if given:
            problems.append(
                InputProblem(name, f"is not used by mode {mode} with a promotion file; leave it empty")
            )
    # The copy settings the promotion file holds: ignoring one silently (a protection) is a trap.
    in_file = {
        "protect-tags": ("protect", bool(settings.protect)),
        "referrers": ("referrers", not settings.referrers),
        "referrer-types": ("referrer-types", bool(settings.referrer_types)),
        "require-referrers": ("require-referrers", bool(settings.require_referrers)),
        "include-foreign-layers": ("include-foreign-layers", settings.include_foreign_layers),
    }
    for name, (key, given) in in_file.items():
        if given and mode in RELEASE_MODES:
            problems.append(
                InputProblem(
                    name, f"mode {mode} takes it from the promotion file: set `{key}` in its defaults"
                )
            )
    if mode == "plan":
        _check_shards(settings.shards, problems)
    if mode == "stage" and settings.shard and not _is_shard(settings.shard):
        problems.append(
            InputProblem("shard", f"must be K/N (like 1/4, the matrix's shard), got {settings.shard!r}")
        )
    for role, user, password in (
        ("source", settings.src_username, settings.src_password),
        ("destination", settings.dest_username, settings.dest_password),
    ):
        _credentials_problem(problems, role, user, password)
    if settings.docker_config is not None and not settings.docker_config.exists():
        problems.append(InputProblem("docker-config", f"no such file or directory: {settings.docker_config}"))
    for host in settings.insecure_registries:
        try:
            parse_registry_host(host)
        except UsageError as e:
            problems.append(InputProblem("insecure-registries", str(e)))
    if problems:
        raise ActionInputError(problems)
    options = ReleaseOptions(
        connect=settings.connect_options(),
        jobs=settings.jobs,
        source_credential=settings.source_credential(),
        destination_credential=settings.destination_credential(),
    )
    return ReleaseInputs(mode, settings.file, settings.shards, settings.shard, settings.lock, options)


def _check_shards(text: str, problems: list[InputProblem]) -> None:
    if text != "auto" and not (text.isdigit() and 1 <= int(text) <= 256):
        problems.append(InputProblem("shards", f"must be a number from 1 to 256 or auto, got {text!r}"))


def _is_shard(text: str) -> bool:
    k, sep, n = text.partition("/")
    return bool(sep) and k.strip().isdigit() and n.strip().isdigit()


def _as_file(text: str, name: str) -> str:
    """A path as it is; JSON given inline (a job output) written to a file under RUNNER_TEMP."""
    if not text.lstrip().startswith("{"):
        return text
    folder = os.environ.get("RUNNER_TEMP") or tempfile.gettempdir()
    fd, path = tempfile.mkstemp(prefix=f"oci-promote-{name}-", suffix=".json", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def _load_plan(text: str) -> PlanFile:
    from ..release import read_plan

    return read_plan(_as_file(text, "plan"))


def _load_lock(text: str) -> LockFile:
    from ..release import read_lock

    return read_lock(_as_file(text, "lock"))


def _grouped(title: str, work: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    gau.start_group(title)
    try:
        return asyncio.run(work())
    finally:
        gau.end_group()


def run_release(settings: ActionSettings, problems: list[InputProblem]) -> int:
    """Check the inputs (with the `problems` reading them found), run the mode, report; the
    exit code (0, 1 or 2)."""
    try:
        return _run(read_release_inputs(settings, problems))
    except PromoteError as e:
        _fail(settings.mode, e)
        return e.exit_code


def _fail(mode: str, error: PromoteError) -> None:
    from ..release import IncompleteReleaseError, PlanProblemsError, PromotionFileError

    if isinstance(error, PromotionFileError):
        # One annotation per problem, on its line of the file (GitHub shows it there).
        for p in error.problems:
            where = f"line {p.line}: " if p.line else ""
            text = f"{where}{p.field}: {p.message}" if p.field else f"{where}{p.message}"
            gau.error(text, title="oci-promote: Invalid promotion file", file=error.path, line=p.line)
        write_summary(summary.failure_summary(mode, str(error)))
    elif isinstance(error, PlanProblemsError):
        for problem in error.plan.problems:
            gau.error(problem, title="oci-promote: The plan found a problem")
        write_summary(
            summary.plan_summary(error.plan, heading="oci-promote: plan found problems, nothing written")
        )
    elif isinstance(error, IncompleteReleaseError):
        gau.error(str(error), title="oci-promote: Commit refused, no tag moved")
        write_summary(summary.missing_summary(str(error), error.missing))
    else:
        annotate_failure(error)
        write_summary(summary.failure_summary(mode, str(error)))


def _run(inputs: ReleaseInputs) -> int:
    from ..release import load_promotion, parse_shard, plan_release_file, stage_shard, verify_lock

    mode, options = inputs.mode, inputs.options
    if mode == "plan":
        promotion = load_promotion(inputs.file)
        plan = _grouped(
            f"Plan {inputs.file}", lambda: plan_release_file(promotion, options, shards=inputs.shards)
        )
        write_summary(summary.plan_summary(plan))
        if plan.problems:
            for problem in plan.problems:
                gau.error(problem, title="oci-promote: The plan found a problem")
            return 1
        matrix = plan.matrix()
        log.info("%d entries in %d shard(s); matrix: %s", len(plan.entries), plan.shards, _compact(matrix))
        text = plan.model_dump_json()
        set_outputs({"matrix": _compact(matrix), "plan": text, "plan-file": _as_file(text, "plan")})
        return 0
    if mode == "stage":
        plan = _load_plan(inputs.file)
        k = parse_shard(inputs.shard, plan) if inputs.shard else None
        title = f"Stage shard {inputs.shard}" if k else f"Stage all {len(plan.entries)} entries"
        staged = _grouped(title, lambda: stage_shard(plan, k, options, on_progress=StageProgressLog()))
        log.info("%d entries staged, %d blob(s) copied, %d mounted; no tag moved", staged.entries,
                 staged.blobs_copied, staged.blobs_mounted)  # fmt: skip
        write_summary(summary.stage_summary(staged, inputs.shard))
        return 0
    if mode == "verify":
        lock = _load_lock(inputs.lock)
        outcomes = _grouped(
            f"Verify the lock ({len(lock.images)} images)", lambda: verify_lock(lock, options)
        )
        for outcome in outcomes:
            log.info("%s", outcome.describe())
            if not outcome.ok:
                gau.error(outcome.describe(), title=f"oci-promote: Digest mismatch: {outcome.reference}")
        write_summary(summary.lock_verify_summary(outcomes))
        return 0 if all(o.ok for o in outcomes) else 1
    return _commit(inputs)


def _commit(inputs: ReleaseInputs) -> int:
    """`commit` (a plan) or `apply` (a promotion file): the lock file, its output, the summary."""
    from ..release import apply_release, commit_release, load_promotion, lock_json, write_lock

    if inputs.mode == "apply":
        promotion = load_promotion(inputs.file)
        plan, _, result = _grouped(
            f"Apply {inputs.file}",
            lambda: apply_release(promotion, inputs.options, on_progress=StageProgressLog()),
        )
        write_summary(summary.plan_summary(plan))
    else:
        plan = _load_plan(inputs.file)
        result = _grouped(f"Commit {len(plan.entries)} entries", lambda: commit_release(plan, inputs.options))
    path = inputs.lock or DEFAULT_LOCK
    write_lock(result.lock, path)
    text = lock_json(result.lock)
    log.info("%d tag(s) moved, %d already held their digest; lock: %s", len(result.moved), result.kept, path)
    set_outputs({"lock": result.lock.model_dump_json(exclude={"defaults"})})
    declare_artifacts(summary.locked_references(result.lock))
    write_summary(summary.commit_summary(result, path, text))
    return 0


def _compact(value: object) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))
