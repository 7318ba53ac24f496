"""The Action's run: read the inputs, then copy (`mode: copy`) or check (`mode: verify`);
the release modes (a promotion file) go to action/release.py.

Order is the point: secrets are masked before anything else is printed, and every input
is validated before any request is sent. Expected failures end as an error annotation and
the CLI's exit code (1, or 2 for bad input), never as a traceback.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

import anyio
import github_action_utils as gau

from ..api import copy_async, verify_async
from ..concurrency import alongside
from ..errors import PromoteError
from ..frontend.present import summary_line
from ..frontend.settings import ENV_PREFIX
from ..result import CopyResult
from ..transport.allocator import keep_freed_buffers
from ..transport.client import use_large_reads
from ..types.digest import parse_digest
from . import report
from .commands import declare_artifacts, mask_secrets, set_outputs, setup_logging, write_summary
from .inputs import ActionInputs, InputProblem, load_settings, validate
from .release import is_release, run_release
from .report import Run

if TYPE_CHECKING:
    from ..forensics import VerifyOutcome

log = logging.getLogger("oci_promote")
_VERIFIED, _MISMATCH = 0, 1


async def promote(inputs: ActionInputs, run: Run) -> CopyResult:
    """Copy, grouped by phase (the engine resolves every destination again in "verify")."""
    copy = partial(copy_async, inputs.copy_options(), on_event=run.on_event)
    result = await alongside(copy, run.report_progress)  # progress lines while the copy runs
    run.close_group()
    return result


async def check_destinations(inputs: ActionInputs) -> list[VerifyOutcome]:
    """`mode: verify`: what each destination resolves to, and why not the digest; never writes."""
    assert inputs.expected is not None
    return await verify_async(
        inputs.destinations, inputs.expected, credential=inputs.destination_credential, connect=inputs.connect
    )


def main() -> int:
    mask_secrets(os.environ)  # first: nothing may be printed before the masks
    setup_logging()
    use_large_reads()
    keep_freed_buffers()
    run = Run()
    source = os.environ.get(ENV_PREFIX + "SOURCE", "").strip()
    inputs: ActionInputs | None = None
    try:
        problems: list[InputProblem] = []
        settings = load_settings(problems)
        if is_release(settings):
            return run_release(settings, problems)
        inputs = validate(settings, problems)
        run.dry_run = inputs.settings.dry_run
        source = inputs.settings.source
        if inputs.verify:
            return _verify(inputs, run)
        result = anyio.run(promote, inputs, run)
    except PromoteError as e:
        run.close_group()
        report.annotate_failure(e, inputs)
        write_summary(report.failure_summary(e, source, run, inputs))
        return e.exit_code
    except KeyboardInterrupt:
        run.close_group()
        gau.error("interrupted", title="oci-promote")
        return 130
    except Exception as e:  # a bug: say so in an annotation, keep the traceback for the report
        run.close_group()
        gau.error(f"{type(e).__name__}: {e}", title="oci-promote: internal error (please report)")
        raise

    for dest in result.destinations:
        log.info("%s", summary_line(dest, result.dry_run))
    set_outputs(report.copy_outputs(result, inputs.destinations, parse_digest(result.digest)))
    if not result.dry_run:
        declare_artifacts([d.pinned for d in result.destinations])
    write_summary(report.success_summary(result))
    return 0


def _verify(inputs: ActionInputs, run: Run) -> int:
    assert inputs.expected is not None
    run.enter("verify", f"Verify {len(inputs.destinations)} destination(s) hold {inputs.expected}")
    outcomes = anyio.run(check_destinations, inputs)
    for outcome in outcomes:
        log.info("%s", outcome.describe())
    run.close_group()
    _report_verification(outcomes, inputs)
    return _VERIFIED if all(o.ok for o in outcomes) else _MISMATCH


def _report_verification(outcomes: Sequence[VerifyOutcome], inputs: ActionInputs) -> None:
    assert inputs.expected is not None
    report.annotate_mismatches(outcomes)
    if all(o.ok for o in outcomes):
        set_outputs(report.verify_outputs(outcomes, inputs.destinations, inputs.expected))
    write_summary(report.verify_summary(outcomes, inputs.expected))
