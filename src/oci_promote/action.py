"""`python -m oci_promote.action`: the GitHub Action's entry point (see action.yml).

The one module that imports github_action_utils and knows the runner: masks, log groups,
annotations, step outputs, the job summary and artifact declarations. It knows nothing of
HTTP; the copy is `api.copy_async`. Inputs arrive as `OCI_PROMOTE_*` variables and are read
by the CLI's own `Settings`.

Order is the point: secrets are masked before anything else is printed, and every input
is validated before any request is sent. Expected failures end as an error annotation and
the CLI's exit code (1, or 2 for bad input), never as a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import github_action_utils as gau
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsError

from .api import copy_async
from .errors import (
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
from .events import Event, PhaseEntered
from .ghcr import github_token_provider
from .layout import is_layout_reference, parse_layout_reference
from .options import CredentialProvider
from .present import Progress, plural, summary_line
from .reference import parse_reference, parse_registry_host
from .result import CopyResult, DestinationResult
from .settings import ENV_PREFIX, Settings
from .transport import use_large_reads

log = logging.getLogger("oci_promote")

#: action.yml input -> Settings field. action.yml passes each as OCI_PROMOTE_<FIELD>;
#: tests/action keeps action.yml, this table and the README in step.
INPUTS: dict[str, str] = {
    "source": "source",
    "destinations": "destinations",
    "expected-digest": "expected_digest",
    "source-username": "src_username",
    "source-password": "src_password",
    "destination-username": "dest_username",
    "destination-password": "dest_password",
    "github-token": "github_token",
    "docker-config": "docker_config",
    "insecure-registries": "insecure_registries",
    "dry-run": "dry_run",
    "jobs": "jobs",
    "include-foreign-layers": "include_foreign_layers",
    "referrers": "referrers",
    "referrer-types": "referrer_types",
    "require-referrers": "require_referrers",
}
#: Settings fields that are deliberately not inputs (still readable from OCI_PROMOTE_* env).
NOT_INPUTS: dict[str, str] = {
    "src_creds": "USER:PASSWORD form of source-username/source-password; one spelling is enough",
    "dest_creds": "USER:PASSWORD form of destination-username/destination-password",
    "ca_file": "hosted runners trust public CAs; set OCI_PROMOTE_CA_FILE in env if needed",
    "timeout": "the default suits CI; set OCI_PROMOTE_TIMEOUT in env if needed",
    "plain_http": "scheme override for self-hosted registries; set OCI_PROMOTE_PLAIN_HTTP in env if needed",
    "https_only": "scheme override for self-hosted registries; set OCI_PROMOTE_HTTPS_ONLY in env if needed",
    **{
        name: "transport tuning whose defaults suit CI; set OCI_PROMOTE_<NAME> in env if needed"
        for name in (
            "retries",
            "retry_delay",
            "retry_max_delay",
            "retry_after_cap",
            "retry_budget",
            "chunk_size",
            "chunked",
        )
    },
}
#: Fields whose values are masked before anything is printed.
SECRET_FIELDS = ("src_password", "dest_password", "github_token", "src_creds", "dest_creds")
OUTPUTS = ("digest", "references", "json")
#: Seconds between progress lines while blobs are moving.
PROGRESS_INTERVAL = 10.0

_FIELD_TO_INPUT = {f: i for i, f in INPUTS.items()}
#: github-action-utils 2 (Python >= 3.11) writes file commands safely and declares artifacts;
#: 1.1 (all that Python 3.10 can install) escapes multi-line outputs, so we write those.
_GAU_2 = hasattr(gau, "declare_oci_artifact")


@dataclass(frozen=True)
class InputProblem:
    input: str
    message: str


class ActionSettings(Settings):
    """The CLI's Settings plus the Action's own input: a GitHub token for ghcr.io."""

    #: The `github-token` input: used for ghcr.io when no other credential is found.
    github_token: SecretStr | None = None

    def credential_provider(self) -> CredentialProvider | None:
        return github_token_provider(self.github_token)


class ActionInputError(UsageError):
    """One or more inputs are wrong; nothing was sent anywhere."""

    def __init__(self, problems: Sequence[InputProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.input}: {p.message}" for p in self.problems))


# --- secrets and logging -------------------------------------------------------------------


def mask_secrets(env: Mapping[str, str]) -> None:
    """Tell the runner to mask every secret input, each line too (logs are masked per line)."""
    for name in SECRET_FIELDS:
        value = env.get(ENV_PREFIX + name.upper(), "")
        candidates = {value, value.strip(), *value.splitlines()}
        if name.endswith("_creds"):  # USER:PASSWORD: the password alone must be masked too
            candidates |= {part.partition(":")[2] for part in list(candidates)}
        for secret in sorted(c for c in candidates if c.strip()):
            gau.add_mask(secret)


def _one_line(text: str) -> str:
    """A log line that cannot start a workflow command: no line breaks, no leading `::`."""
    line = text.replace("\r", "\\r").replace("\n", "\\n")
    return "  " + line.replace("::", ": :", 1) if line.lstrip().startswith("::") else line


class _LineHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = _one_line(self.format(record))
        except Exception:
            self.handleError(record)
            return
        print(line, flush=True)


def _setup_logging() -> None:
    handler = _LineHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG if os.environ.get("RUNNER_DEBUG") == "1" else logging.INFO)


# --- validation ----------------------------------------------------------------------------


def load_settings() -> ActionSettings:
    """The CLI's Settings from OCI_PROMOTE_*; an empty input means "not given", as in Actions."""
    # A BaseSettings init option, not a field, so mypy's synthesised signature lacks it.
    options: dict[str, Any] = {"_env_ignore_empty": True}
    try:
        return ActionSettings(**options)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            name = str(err["loc"][0]) if err["loc"] else "input"
            # err["msg"] only: err["input"] would echo the value, which may be a secret.
            problems.append(InputProblem(_FIELD_TO_INPUT.get(name, ENV_PREFIX + name.upper()), err["msg"]))
        raise ActionInputError(problems) from None
    except SettingsError as e:
        raise ActionInputError([InputProblem("input", str(e))]) from None


def validate(settings: Settings) -> None:
    """Check every input before any request, reporting all bad inputs at once."""
    problems: list[InputProblem] = []

    def check(name: str, fn: Callable[..., object], *args: object) -> None:
        try:
            fn(*args)
        except UsageError as e:
            problems.append(InputProblem(name, str(e)))

    if not settings.source:
        problems.append(InputProblem("source", "is required"))
    elif is_layout_reference(settings.source):
        check("source", _check_layout, settings.source)
    else:
        check("source", parse_reference, settings.source)
    if not settings.destinations:
        problems.append(InputProblem("destinations", "at least one destination is required"))
    for text in settings.destinations:
        check("destinations", lambda t: parse_reference(t, default_tag=None), text)
    check("expected-digest", settings.expected)
    if not _credentials_problem(problems, "source", settings.src_username, settings.src_password):
        check(ENV_PREFIX + "SRC_CREDS", settings.source_credential)
    if not _credentials_problem(problems, "destination", settings.dest_username, settings.dest_password):
        check(ENV_PREFIX + "DEST_CREDS", settings.destination_credential)
    if settings.docker_config is not None and not settings.docker_config.exists():
        problems.append(InputProblem("docker-config", f"no such file or directory: {settings.docker_config}"))
    for host in settings.insecure_registries:
        check("insecure-registries", _check_host, host)
    if problems:
        # One problem per input and message, in input order.
        unique = dict.fromkeys(problems)
        order = list(INPUTS)
        raise ActionInputError(
            sorted(unique, key=lambda p: order.index(p.input) if p.input in order else len(order))
        )


def _check_layout(text: str) -> None:
    ref = parse_layout_reference(text)
    if not (ref.path / "oci-layout").is_file():
        raise UsageError(f"{ref.path} is not an OCI image layout (it has no oci-layout file)")


def _check_host(text: str) -> None:
    parse_registry_host(text)


def _credentials_problem(
    problems: list[InputProblem], role: str, username: str | None, password: SecretStr | None
) -> bool:
    """A username without a password or the reverse, named by the input that is missing."""
    has_password = password is not None and bool(password.get_secret_value())
    if username and not has_password:
        problems.append(InputProblem(f"{role}-password", f"is empty, but {role}-username is set"))
    elif has_password and not username:
        problems.append(InputProblem(f"{role}-username", f"is empty, but {role}-password is set"))
    else:
        return False
    return True


# --- the run: log groups, progress, verification -------------------------------------------


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

    def enter(self, phase: str) -> None:
        self.close_group()
        self.phase = phase
        n = len(self.progress.destinations)
        titles = {
            "resolve": "Resolve the source",
            "copy": f"{'Plan (dry run) for' if self.dry_run else 'Copy to'} {plural(n, 'destination')}",
            "verify": f"Verify {plural(n, 'destination')}",
        }
        gau.start_group(titles.get(phase, phase))
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
            await asyncio.sleep(interval)
            if self.phase != "copy" or self.dry_run:
                continue
            line = self.progress.line(time.monotonic() - started)
            if line and line != last:
                log.info("%s", line)
                last = line


async def promote(settings: Settings, run: Run) -> CopyResult:
    """Copy, grouped by phase (the engine resolves every destination again in "verify")."""
    ticker = asyncio.ensure_future(run.report_progress())
    try:
        result = await copy_async(settings.to_options(), on_event=run.on_event)
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    run.close_group()
    return result


# --- reporting -----------------------------------------------------------------------------

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


def annotate_failure(error: PromoteError) -> None:
    """One error annotation per problem; github_action_utils escapes message and title."""
    if isinstance(error, ActionInputError):
        for problem in error.problems:
            gau.error(f"{problem.input}: {problem.message}", title=f"Invalid input: {problem.input}")
        return
    title = next((t for cls, t in _TITLES if isinstance(error, cls)), "Promotion failed")
    gau.error(_failure_message(error), title=f"oci-promote: {title}")


def _failure_message(error: PromoteError) -> str:
    message = str(error)
    if isinstance(error, DigestMismatchError) and not (error.expected in message and error.got in message):
        message += f" (expected {error.expected}, got {error.got})"
    return message


def set_outputs(result: CopyResult) -> None:
    if not os.environ.get("GITHUB_OUTPUT"):
        return
    values = {
        "digest": result.digest,
        "references": "\n".join(dict.fromkeys(d.pinned for d in result.destinations)),
        "json": json.dumps(result.to_dict()),
    }
    for name in OUTPUTS:
        if _GAU_2:
            gau.set_output(name, values[name])
        else:
            _write_file_command("GITHUB_OUTPUT", name, values[name])


def declare_artifacts(result: CopyResult) -> None:
    """Where the runner collects artifacts, declare each pinned destination as an OCI artifact."""
    if result.dry_run or not os.environ.get("GITHUB_ARTIFACTS"):
        return
    for pinned in dict.fromkeys(d.pinned for d in result.destinations):
        try:
            if _GAU_2:
                gau.declare_oci_artifact(pinned)
            else:  # the same record github-action-utils 2 writes
                with open(os.environ["GITHUB_ARTIFACTS"], "a", encoding="utf-8") as f:
                    f.write(f"oci://{pinned}\n")
        except (OSError, ValueError) as e:
            gau.warning(f"could not declare {pinned} as an artifact: {e}", title="oci-promote")


def write_summary(markdown: str) -> None:
    if not os.environ.get("GITHUB_STEP_SUMMARY"):
        return
    if _GAU_2:
        gau.append_job_summary(markdown)
    else:  # 1.1 would turn a literal "%25" in the text into "%"
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(markdown + "\n")


def _write_file_command(variable: str, name: str, value: str) -> None:
    delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
    with open(os.environ[variable], "a", encoding="utf-8") as f:
        f.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def success_summary(result: CopyResult) -> str:
    heading = "oci-promote: dry run" if result.dry_run else "oci-promote: promoted"
    lines = [f"### {heading}", "", *_facts_table(result.source, result.digest, result.media_type), ""]
    if result.dry_run:
        lines += [
            "| Destination | Pinned reference | Blobs to send | Bytes to send | Already there | Up to date |",
            "|---|---|--:|--:|--:|---|",
        ]
        lines += [
            f"| {_code(d.reference)} | {_code(d.pinned)} | {d.blobs_missing} | {d.bytes_missing} "
            f"| {d.blobs_skipped} | {'yes' if d.up_to_date else 'no'} |"
            for d in result.destinations
        ]
    else:
        lines += [
            "| Destination | Pinned reference | Blobs copied | Mounted | Skipped | Bytes | Seconds |",
            "|---|---|--:|--:|--:|--:|--:|",
        ]
        lines += [
            f"| {_code(d.reference)} | {_code(d.pinned)} | {d.blobs_copied} | {d.blobs_mounted} "
            f"| {d.blobs_skipped} | {d.bytes_copied} | {d.seconds:.2f} |"
            for d in result.destinations
        ]
    return "\n".join(lines)


def failure_summary(error: PromoteError, source: str, run: Run) -> str:
    digest = run.progress.digest
    lines = ["### oci-promote: failed", "", *_facts_table(source, digest, "")]
    lines.append(f"| Failed while | {run.phase} |")
    if isinstance(error, DigestMismatchError):
        lines += [f"| Expected digest | {_code(error.expected)} |", f"| Found | {_code(error.got)} |"]
    if isinstance(error, ActionInputError):
        lines += ["", "| Input | Problem |", "|---|---|"]
        lines += [f"| {_code(p.input)} | {_cell(p.message)} |" for p in error.problems]
    else:
        lines += ["", _fenced(_failure_message(error))]
    if run.results and run.phase in ("copy", "verify"):
        lines += ["", "| Destination | Blobs copied | Mounted | Skipped | Bytes |", "|---|--:|--:|--:|--:|"]
        lines += [
            f"| {_code(d.reference)} | {d.blobs_copied} | {d.blobs_mounted} | {d.blobs_skipped} "
            f"| {d.bytes_copied} |"
            for d in run.results
        ]
    return "\n".join(lines)


def _facts_table(source: str, digest: str, media_type: str) -> list[str]:
    rows = ["| | |", "|---|---|"]
    if source:
        rows.append(f"| Source | {_code(source)} |")
    if digest:
        rows.append(f"| Digest | {_code(digest)} |")
    if media_type:
        rows.append(f"| Media type | {_code(media_type)} |")
    return rows


def _code(text: str) -> str:
    """A Markdown code span safe inside a table cell, whatever the text holds."""
    text = " ".join(text.splitlines()).replace("|", "\\|")
    ticks = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _cell(text: str) -> str:
    return " ".join(text.splitlines()).replace("|", "\\|").replace("<", "&lt;")


def _fenced(text: str) -> str:
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return f"{fence}text\n{text}\n{fence}"


def _longest_backtick_run(text: str) -> int:
    longest = current = 0
    for char in text:
        current = current + 1 if char == "`" else 0
        longest = max(longest, current)
    return longest


# --- entry point ---------------------------------------------------------------------------


def main() -> int:
    mask_secrets(os.environ)  # first: nothing may be printed before the masks
    _setup_logging()
    use_large_reads()
    run = Run()
    source = os.environ.get(ENV_PREFIX + "SOURCE", "").strip()
    try:
        settings = load_settings()
        run.dry_run = settings.dry_run
        source = settings.source
        validate(settings)
        result = asyncio.run(promote(settings, run))
    except PromoteError as e:
        run.close_group()
        annotate_failure(e)
        write_summary(failure_summary(e, source, run))
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
    set_outputs(result)
    declare_artifacts(result)
    write_summary(success_summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
