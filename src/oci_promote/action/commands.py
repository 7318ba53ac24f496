"""The runner's file and workflow commands: masks, groups, safe log lines, outputs, summary,
artifacts.

The one place that writes to `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY` and `GITHUB_ARTIFACTS`
or emits `::add-mask::` and `::group::`. github-action-utils 2 (Python >= 3.11) writes file
commands safely and declares artifacts; 1.1 (all that Python 3.10 can install) escapes
multi-line outputs, so with it we write those ourselves. Both write a command without
properties as `::add-mask ::VALUE` (a space before `::`): GitHub's runner accepts that, but
act (and so Gitea and Forgejo Actions) does not, and prints the line as it is, secret and
all. So masks and groups are written here as `::NAME::DATA`; annotations, which always
carry a title, and `::endgroup::` come out right from github-action-utils.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping

import github_action_utils as gau

from ..frontend.settings import ENV_PREFIX
from .inputs import SECRET_FIELDS

log = logging.getLogger("oci_promote")

_GAU_2 = hasattr(gau, "declare_oci_artifact")


def _escape_data(text: str) -> str:
    """A command's data as both runners decode it (`%` first, so nothing is decoded twice)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _command(name: str, data: str) -> None:
    """`::NAME::DATA`, with no space before the second `::`, which act's parser requires."""
    gau.echo(f"::{name}::{_escape_data(data)}")


def add_mask(secret: str) -> None:
    """Mask a value. act reads `::add-mask::a::b` as a command named `add-mask::a` and prints
    the line as it is; so a value with `::` has its parts masked first, which hides them
    in that line too (GitHub's runner takes the whole value, and masks the parts as well)."""
    if "::" in secret:
        for part in sorted({p for p in secret.split("::") if p.strip()}):
            _command("add-mask", part)
    _command("add-mask", secret)


def start_group(title: str) -> None:
    _command("group", title)


def mask_secrets(env: Mapping[str, str]) -> None:
    """Tell the runner to mask every secret input, each line too (logs are masked per line)."""
    for name in SECRET_FIELDS:
        value = env.get(ENV_PREFIX + name.upper(), "")
        candidates = {value, value.strip(), *value.splitlines()}
        if name.endswith("_creds"):  # USER:PASSWORD: the password alone must be masked too
            candidates |= {part.partition(":")[2] for part in list(candidates)}
        for secret in sorted(c for c in candidates if c.strip()):
            add_mask(secret)


def safe_lines(text: str) -> list[str]:
    """Log lines, one per line of `text` (never an escaped `\\n`), none of which can start
    a workflow command: a leading `::` becomes `: :`."""
    return [
        "  " + line.replace("::", ": :", 1) if line.lstrip().startswith("::") else line
        for line in text.splitlines() or [""]
    ]


class _LineHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            lines = safe_lines(self.format(record))
        except Exception:
            self.handleError(record)
            return
        print("\n".join(lines), flush=True)


def setup_logging() -> None:
    """Library logs as plain lines on stdout (the runner's log); debug when the runner debugs."""
    handler = _LineHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG if os.environ.get("RUNNER_DEBUG") == "1" else logging.INFO)


def set_outputs(values: Mapping[str, str]) -> None:
    """Step outputs; multi-line values survive (heredoc with a random delimiter)."""
    if not os.environ.get("GITHUB_OUTPUT"):
        return
    for name, value in values.items():
        if _GAU_2:
            gau.set_output(name, value)
        else:
            _write_file_command("GITHUB_OUTPUT", name, value)


def declare_artifacts(pinned_references: list[str]) -> None:
    """Where the runner collects artifacts, declare each pinned reference as an OCI artifact."""
    if not os.environ.get("GITHUB_ARTIFACTS"):
        return
    for pinned in dict.fromkeys(pinned_references):
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
