"""What the Action shows: log groups and progress while it runs, then annotations, the job
summary and the step outputs' values. It reads results and events, never HTTP."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import github_action_utils as gau

from ..errors import (
    AuthenticationError,
    AuthorizationError,
    CredentialsError,
    DigestMismatchError,
    NotFoundError,
    PromoteError,
    RegistryError,
    TransportError,
    UsageError,
)
from ..events import Event, PhaseEntered
from ..frontend.present import Progress, plural
from ..result import CopyResult, DestinationResult
from ..types.digest import Digest
from ..types.location import Location
from ..types.reference import Reference
from .commands import start_group
from .inputs import ActionInputError, ActionInputs
from .markdown import cell, code, facts_table, fenced

if TYPE_CHECKING:
    from ..forensics import VerifyOutcome

log = logging.getLogger("oci_promote")

OUTPUTS = ("digest", "references", "json", "matrix", "plan", "plan-file", "lock")
#: Seconds between progress lines while blobs are moving.
PROGRESS_INTERVAL = 10.0


@dataclass
class Run:
    """What is known so far, for groups, progress and the summary of a failure."""

    dry_run: bool = False
    phase: str = "validate"
    progress: Progress = field(default_factory=Progress)
    _group_open: bool = field(default=False, repr=False)

    @property
    def results(self) -> list[DestinationResult]:
        return list(self.progress.destinations.values())

    def on_event(self, event: Event) -> None:
        """copy_async's event callback: counts for progress, one collapsible log group per phase."""
        self.progress(event)
        if isinstance(event, PhaseEntered):
            self.enter(event.phase)

    def enter(self, phase: str, title: str | None = None) -> None:
        self.close_group()
        self.phase = phase
        n = len(self.progress.destinations)
        titles = {
            "resolve": "Resolve the source",
            "copy": f"{'Plan (dry run) for' if self.dry_run else 'Copy to'} {plural(n, 'destination')}",
            "verify": f"Verify {plural(n, 'destination')}",
        }
        start_group(title or titles.get(phase, phase))
        self._group_open = True

    def close_group(self) -> None:
        if self._group_open:
            gau.end_group()
            self._group_open = False

    async def report_progress(self, interval: float = PROGRESS_INTERVAL) -> None:
        """While blobs move, a line every `interval` seconds (not one per blob)."""
        started = time.monotonic()
        last = ""
        while True:
            await anyio.sleep(interval)
            if self.phase != "copy" or self.dry_run:
                continue
            line = self.progress.line(time.monotonic() - started)
            if line and line != last:
                log.info("%s", line)
                last = line


# --- failures ------------------------------------------------------------------------------

_TITLES: tuple[tuple[type[PromoteError], str], ...] = (
    (ActionInputError, "Invalid input"),
    (DigestMismatchError, "Digest mismatch"),
    (CredentialsError, "Credentials problem"),
    (UsageError, "Invalid input"),
    (AuthenticationError, "Registry authentication failed"),
    (AuthorizationError, "Registry access denied"),
    (NotFoundError, "Not found"),
    (TransportError, "Registry unreachable"),
    (RegistryError, "Registry error"),
)


def annotate_failure(error: PromoteError, inputs: ActionInputs | None = None) -> None:
    """One error annotation per problem; github_action_utils escapes message and title."""
    if isinstance(error, ActionInputError):
        for problem in error.problems:
            gau.error(f"{problem.input}: {problem.message}", title=f"Invalid input: {problem.input}")
        return
    title = next((t for cls, t in _TITLES if isinstance(error, cls)), "Promotion failed")
    gau.error(failure_message(error, inputs), title=f"oci-promote: {title}")


def failure_message(error: PromoteError, inputs: ActionInputs | None = None) -> str:
    message = str(error)
    if isinstance(error, DigestMismatchError) and not (error.expected in message and error.got in message):
        message += f" (expected {error.expected}, got {error.got})"
    if isinstance(error, AuthenticationError):
        message += f" ({credential_hint(error, inputs)})"
    return message


def credential_hint(error: AuthenticationError, inputs: ActionInputs | None) -> str:
    """Which input supplies the credentials for the registry that said 401, and what went wrong."""
    registry = error.registry
    sources = [] if inputs is None or inputs.source is None else [inputs.source]
    roles = [
        role
        for role, locations in (("source", sources), ("destination", inputs.destinations if inputs else ()))
        if not registry or any(_registry(loc) == registry for loc in locations)
    ] or ["source", "destination"]
    if inputs is not None and inputs.verify:
        roles = ["destination"]
    names = " or ".join(f"{r}-username/{r}-password" for r in roles)
    where = f"for {registry}" if registry else ""
    if error.credentials_sent:
        return (
            f"the credentials sent {where} were refused: check {names}, or the login of docker/login-action"
        )
    extra = ", or github-token (needs packages access)" if registry == "ghcr.io" else ""
    return f"no credentials were found {where}: set {names}, or log in with docker/login-action{extra}"


def _registry(location: Location) -> str | None:
    return location.registry if isinstance(location, Reference) else None


def failure_summary(error: PromoteError, source: str, run: Run, inputs: ActionInputs | None = None) -> str:
    digest = run.progress.digest
    lines = ["### oci-promote: failed", "", *facts_table(source, digest, "")]
    lines.append(f"| Failed while | {run.phase} |")
    if error.destination is not None:
        lines.append(f"| Failed at | {code(error.destination)} |")
    if error.tags_moved:
        lines.append(f"| Tags already moved | {', '.join(code(t) for t in error.tags_moved)} |")
    if isinstance(error, DigestMismatchError):
        lines += [f"| Expected digest | {code(error.expected)} |", f"| Found | {code(error.got)} |"]
    if isinstance(error, ActionInputError):
        lines += ["", "| Input | Problem |", "|---|---|"]
        lines += [f"| {code(p.input)} | {cell(p.message)} |" for p in error.problems]
    else:
        lines += ["", fenced(failure_message(error, inputs))]
    if run.results and run.phase in ("copy", "verify"):
        lines += ["", "| Destination | Blobs copied | Mounted | Skipped | Bytes |", "|---|--:|--:|--:|--:|"]
        lines += [
            f"| {code(d.reference)} | {d.blobs_copied} | {d.blobs_mounted} | {d.blobs_skipped} "
            f"| {d.bytes_copied} |"
            for d in run.results
        ]
    return "\n".join(lines)


# --- a copy --------------------------------------------------------------------------------


def pinned_references(destinations: Sequence[Location], digest: Digest) -> list[str]:
    """One pinned reference per destination as given: line N is destination N, duplicates too."""
    return [location.pinned(digest) for location in destinations]


def copy_outputs(result: CopyResult, destinations: Sequence[Location], digest: Digest) -> dict[str, str]:
    return {
        "digest": result.digest,
        "references": "\n".join(pinned_references(destinations, digest)),
        "json": json.dumps(result.to_dict()),
    }


def success_summary(result: CopyResult) -> str:
    heading = "oci-promote: dry run" if result.dry_run else "oci-promote: promoted"
    lines = [f"### {heading}", "", *facts_table(result.source, result.digest, result.media_type), ""]
    if result.dry_run:
        lines += [
            "| Destination | Pinned reference | Blobs to send | Bytes to send | Already there | Up to date |",
            "|---|---|--:|--:|--:|---|",
        ]
        lines += [
            f"| {code(d.reference)} | {code(d.pinned)} | {d.blobs_missing} | {d.bytes_missing} "
            f"| {d.blobs_skipped} | {'yes' if d.up_to_date else 'no'} |"
            for d in result.destinations
        ]
    else:
        lines += [
            "| Destination | Pinned reference | Blobs copied | Mounted | Skipped | Bytes | Seconds |",
            "|---|---|--:|--:|--:|--:|--:|",
        ]
        lines += [
            f"| {code(d.reference)} | {code(d.pinned)} | {d.blobs_copied} | {d.blobs_mounted} "
            f"| {d.blobs_skipped} | {d.bytes_copied} | {d.seconds:.2f} |"
            for d in result.destinations
        ]
    return "\n".join(lines)


# --- a verification ------------------------------------------------------------------------


def verify_outputs(
    outcomes: Sequence[VerifyOutcome], destinations: Sequence[Location], digest: Digest
) -> dict[str, str]:
    report = {
        "mode": "verify",
        "digest": str(digest),
        "verified": all(o.ok for o in outcomes),
        "references": [o.to_dict() for o in outcomes],
    }
    return {
        "digest": str(digest),
        "references": "\n".join(pinned_references(destinations, digest)),
        "json": json.dumps(report),
    }


def annotate_mismatches(outcomes: Sequence[VerifyOutcome]) -> None:
    """One error annotation per destination that does not hold the digest, with its causes."""
    for outcome in outcomes:
        if not outcome.ok:
            gau.error(outcome.describe(), title=f"oci-promote: Digest mismatch: {outcome.reference}")


def verify_summary(outcomes: Sequence[VerifyOutcome], digest: Digest) -> str:
    verified = all(o.ok for o in outcomes)
    heading = "oci-promote: verified" if verified else "oci-promote: verification failed"
    lines = [f"### {heading}", "", *facts_table("", str(digest), ""), ""]
    lines += ["| Destination | Resolves to | Holds the digest |", "|---|---|---|"]
    lines += [
        f"| {code(o.reference)} | {code(o.digest) if o.digest else 'nothing'} | {'yes' if o.ok else 'no'} |"
        for o in outcomes
    ]
    for outcome in outcomes:
        if not outcome.ok:
            lines += ["", f"#### {cell(outcome.reference)}", "", fenced(outcome.describe())]
    return "\n".join(lines)
