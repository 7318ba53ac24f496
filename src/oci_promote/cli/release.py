"""`plan`, `stage`, `commit`, `apply`, `export`: a whole release from a promotion file.

Exit status: 0 done; 1 the plan found problems, or stage/commit failed (commit moved no tag
unless it says which); 2 a bad promotion file (every problem, each with its line), plan or
arguments. Results go to stdout (the plan table, `--matrix` JSON, the export), progress and
errors to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import PromoteError
from ..frontend.present import StageProgressLog

if TYPE_CHECKING:
    from ..frontend.settings import Settings
    from ..release import Defaults, PlanFile, ReleaseOptions

COMMANDS = frozenset({"plan", "stage", "commit", "apply", "export"})
#: The export formats (release.lock.FORMATS; spelled here so `--help` imports no pydantic).
FORMATS = ("kustomize", "helm", "env")
log = logging.getLogger("oci_promote")
#: Above this many entries, progress is a summary row instead of one row per entry.
ROWS = 20


def add_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: Callable[..., None]
) -> None:
    plan = sub.add_parser(
        "plan",
        help="validate a promotion file, pin every source, check every destination; writes nothing",
        description="Validate FILE (a promotion file, or a lock file as the next hop's), resolve every "
        "source tag once, expand tag filters, and check every destination: what it lacks, which tags "
        "would move, protected tags that would move, repositories that refuse a write. Prints a table; "
        "writes the plan with -o. Exit 0 ready, 1 problems found, 2 a bad file.",
    )
    plan.add_argument("file", metavar="FILE")
    plan.add_argument("-o", "--output", metavar="PLAN", help="write the plan (JSON) here")
    plan.add_argument("--shards", default="1", metavar="N|auto", help="spread entries over N shards (1)")
    plan.add_argument(
        "--matrix",
        action="store_true",
        help='print the GitHub matrix JSON ({"include":[{"shard":"1/N"},...]})',
    )
    _defaults_flags(plan)
    _jobs(plan)
    common(plan, destination=True)

    stage = sub.add_parser("stage", help="push one shard's images by digest; moves no tag")
    stage.add_argument("plan", metavar="PLAN")
    stage.add_argument("--shard", default="1/1", metavar="K/N", help="which shard of the plan (1/1)")
    _jobs(stage)
    common(stage, destination=True)

    commit = sub.add_parser(
        "commit", help="check every planned digest at every destination, then move every tag; write the lock"
    )
    commit.add_argument("plan", metavar="PLAN")
    commit.add_argument("--lock", metavar="LOCK", help="write the lock file here (promoted.lock.json)")
    _jobs(commit)
    common(commit, destination=True)

    apply = sub.add_parser("apply", help="plan, stage and commit in one process (all-or-nothing)")
    apply.add_argument("file", metavar="FILE")
    apply.add_argument("--lock", metavar="LOCK", help="write the lock file here")
    _defaults_flags(apply)
    _jobs(apply)
    common(apply, destination=True)

    export = sub.add_parser("export", help="print a lock file as kustomize images, Helm values or KEY=REF")
    export.add_argument("lock", metavar="LOCK")
    export.add_argument("--format", required=True, choices=FORMATS)


def _jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, metavar="N", help="requests in flight across the release (8)")


def _defaults_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to-registry", metavar="HOST", help="overrides defaults.to-registry")
    parser.add_argument("--strip-prefix", metavar="PREFIX", help="overrides defaults.strip-prefix")
    parser.add_argument("--add-prefix", metavar="PREFIX", help="overrides defaults.add-prefix")


def run(args: argparse.Namespace, settings: Settings, runner: Callable[[Callable[[], Any]], Any]) -> int:
    """Run a release verb; `runner` runs a coroutine function with the CLI's signal handling."""
    from ..release import PlanProblemsError, PromotionFileError

    try:
        return _run(args, settings, runner)
    except PromotionFileError as e:
        print(f"oci-promote: error: {e}", file=sys.stderr)
        return e.exit_code
    except PlanProblemsError as e:
        _print_table(e.plan)
        print(f"oci-promote: error: {e}", file=sys.stderr)
        return e.exit_code
    except PromoteError as e:
        print(f"oci-promote: error: {e}", file=sys.stderr)
        return e.exit_code


def _options(args: argparse.Namespace, settings: Settings) -> ReleaseOptions:
    from ..release import ReleaseOptions

    return ReleaseOptions(
        connect=settings.connect_options(),
        jobs=settings.jobs,
        source_credential=settings.source_credential(),
        destination_credential=settings.destination_credential(),
    )


def _overrides(args: argparse.Namespace) -> Defaults | None:
    from ..release import Defaults

    given = {
        k: getattr(args, k) for k in ("to_registry", "strip_prefix", "add_prefix") if getattr(args, k, None)
    }
    return Defaults(**given) if given else None


def _run(args: argparse.Namespace, settings: Settings, runner: Callable[[Callable[[], Any]], Any]) -> int:
    from ..release import (
        apply_release,
        commit_release,
        export_lock,
        load_promotion,
        lock_json,
        parse_shard,
        plan_release_file,
        read_lock,
        read_plan,
        stage_shard,
        write_lock,
    )
    from ..release.model import check_writable, write_whole

    if args.command == "export":
        sys.stdout.write(export_lock(read_lock(args.lock), args.format))
        return 0
    for name, what in (("output", "the plan"), ("lock", "the lock")):
        if getattr(args, name, None):
            check_writable(getattr(args, name), what)
    options = _options(args, settings)
    progress = StageProgressLog(ROWS)
    if not args.verbose:
        _engine_details_to_debug()
    if args.command == "plan":
        promotion = load_promotion(args.file, _overrides(args))
        plan: PlanFile = runner(lambda: plan_release_file(promotion, options, shards=args.shards))
        if args.matrix:
            print(json.dumps(plan.matrix(), separators=(",", ":")))
        else:
            _print_table(plan)
        if plan.problems:
            for p in plan.problems:
                print(f"oci-promote: problem: {p}", file=sys.stderr)
            print(f"oci-promote: error: the plan found {len(plan.problems)} problem(s)", file=sys.stderr)
            return 1
        if args.output:
            write_whole(args.output, plan.to_json(), "the plan")
        _throttled({t.registry: (t.pauses, t.seconds) for t in plan.throttled})
        return 0
    if args.command == "stage":
        plan = read_plan(args.plan)
        k = parse_shard(args.shard, plan)
        staged = runner(lambda: stage_shard(plan, k, options, on_progress=progress))
        log.info(
            "shard %s: %d entries staged: %d blob(s) copied (%d bytes), %d mounted, %d manifest(s) pushed; "
            "no tag moved",
            args.shard,
            staged.entries,
            staged.blobs_copied,
            staged.bytes_copied,
            staged.blobs_mounted,
            staged.manifests_pushed,
        )
        _throttled(staged.throttled)
        return 0
    if args.command == "commit":
        plan = read_plan(args.plan)
        result = runner(lambda: commit_release(plan, options, on_progress=progress))
    else:
        promotion = load_promotion(args.file, _overrides(args))
        plan, staged, result = runner(lambda: apply_release(promotion, options, on_progress=progress))
        _print_table(plan, to=sys.stderr)
    log.info("%d tag(s) moved, %d already held their digest", len(result.moved), result.kept)
    _throttled(result.throttled)
    if args.lock:
        write_lock(result.lock, args.lock)
    else:
        sys.stdout.write(lock_json(result.lock))
    return 0


class _EngineDetails(logging.Filter):
    """The engine's per-manifest lines, fine for one copy, would bury a release's rows."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.INFO and f"{__package__.rsplit('.', 1)[0]}.engine" in _module(record)
        )


def _module(record: logging.LogRecord) -> str:
    return record.pathname.replace("/", ".").replace("\\", ".")


def _engine_details_to_debug() -> None:
    for handler in log.handlers:
        handler.addFilter(_EngineDetails())


def _throttled(throttled: dict[str, tuple[int, float]] | None) -> None:
    for registry, (pauses, seconds) in (throttled or {}).items():
        log.info(
            "throttled: %s asked to wait %d time(s) (Retry-After), %.1f s in all", registry, pauses, seconds
        )


def _print_table(plan: PlanFile, to: Any = None) -> None:
    """One row per entry (source, digest, destinations, bytes to send, tags to move, shard), totals."""
    out = to or sys.stdout
    rows = plan.table()
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)
    print(plan.summary(), file=out)
