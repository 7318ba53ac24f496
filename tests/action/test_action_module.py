"""oci_promote.action in-process: masking, escaping, Markdown, progress, verification, GHCR."""

from __future__ import annotations

import asyncio
import base64
import json
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from oci_promote import action
from oci_promote.action import commands, markdown, report
from oci_promote.action.ghcr import GITHUB_TOKEN_USERNAME
from oci_promote.connect import Connections
from oci_promote.errors import DigestMismatchError, RegistryError
from oci_promote.frontend.present import progress_line
from oci_promote.frontend.settings import Settings
from oci_promote.result import DestinationResult
from oci_promote.transport.credentials import Credential
from oci_promote.types.secret import Secret
from testkit.action_runner import parse_commands


@pytest.fixture(autouse=True)
def _plain_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    # github-action-utils writes raw bytes to stdout under Actions; capsys wants text.
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def test_every_line_of_a_secret_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    commands.mask_secrets(
        {
            "OCI_PROMOTE_SRC_PASSWORD": "first-line\nsecond-line\n",
            "OCI_PROMOTE_DEST_CREDS": "robot:pa:ss",
            "OCI_PROMOTE_GITHUB_TOKEN": "",
            "OCI_PROMOTE_SOURCE": "not-a-secret",
        }
    )
    masks = {c.message for c in parse_commands(capsys.readouterr().out) if c.name == "add-mask"}
    assert masks == {
        "first-line\nsecond-line\n",
        "first-line\nsecond-line",
        "first-line",
        "second-line",
        "robot:pa:ss",
        "pa:ss",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", ["plain"]),
        ("two\nlines", ["two", "lines"]),
        ("cr\r::error::x", ["cr", "  : :error::x"]),
        ("::warning::x", ["  : :warning::x"]),
        ("  ::set-output name=a::b", ["    : :set-output name=a::b"]),
    ],
)
def test_log_lines_cannot_start_a_workflow_command(text: str, expected: list[str]) -> None:
    lines = commands.safe_lines(text)
    assert lines == expected
    assert parse_commands("\n".join(lines)) == []


def test_masks_and_groups_have_no_space_before_the_data(capsys: pytest.CaptureFixture[str]) -> None:
    """act (Gitea, Forgejo) reads `::add-mask::V`, not github-action-utils' `::add-mask ::V`."""
    commands.add_mask("pw 100%\nx")
    commands.add_mask("a::b")
    commands.start_group("Copy")
    assert capsys.readouterr().out.splitlines() == [
        "::add-mask::pw 100%25%0Ax",
        "::add-mask::a",
        "::add-mask::b",
        "::add-mask::a::b",
        "::group::Copy",
    ]


def test_annotations_escape_message_and_title(capsys: pytest.CaptureFixture[str]) -> None:
    report.annotate_failure(
        action.ActionInputError([action.InputProblem("destinations", "bad 'x\n::error::y' 100%")])
    )
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one physical line
    assert "title=Invalid input%3A destinations::" in out
    assert "%0A::error::y" in out and "100%25" in out
    [command] = parse_commands(out)
    assert command.message == "destinations: bad 'x\n::error::y' 100%"


def test_markdown_cells_survive_pipes_backticks_and_newlines() -> None:
    assert markdown.code("a|b") == "`a\\|b`"
    assert markdown.code("x`y") == "``x`y``"
    assert markdown.code("`edge`") == "`` `edge` ``"
    assert markdown.code("two\nlines") == "`two lines`"
    assert markdown.fenced("has ``` inside").startswith("````text\n")


def test_progress_line_counts_blobs_and_bytes() -> None:
    a = DestinationResult("r/a:1", "r/a@x", "x", "1", blobs_missing=4, bytes_missing=4_000_000)
    b = DestinationResult("r/b:1", "r/b@x", "x", "1", up_to_date=True, blobs_missing=9, bytes_missing=9)
    assert progress_line([a, b], 3) == "copying: 0 of 4 blobs, 0 B of 4.0 MB (0%), 3 s"
    a.blobs_copied, a.blobs_mounted, a.bytes_copied = 2, 1, 1_500_000
    assert progress_line([a, b], 12.4) == "copying: 3 of 4 blobs, 1.5 MB of 4.0 MB (37%), 12 s"
    assert progress_line([b], 1) is None


def test_failure_summary_says_what_failed() -> None:
    run = report.Run(phase="resolve")
    error = DigestMismatchError("mismatch | here", expected="sha256:" + "a" * 64, got="sha256:" + "b" * 64)
    text = report.failure_summary(error, "reg/x:1", run)
    assert "### oci-promote: failed" in text
    assert "| Failed while | resolve |" in text
    assert f"| Expected digest | `sha256:{'a' * 64}` |" in text
    # The message lacked the digests, so they were added to it.
    assert f"```text\nmismatch | here (expected sha256:{'a' * 64}, got sha256:{'b' * 64})\n```" in text
    assert "Failed at" not in text and "Tags already moved" not in text


def test_failure_summary_names_the_destination_and_the_tags_that_moved() -> None:
    """From the error's fields, not its message."""
    error = RegistryError("refused", registry="dst")
    error.at_destination("dst/b:v1", "tags already moved: dst/a:v1")
    error.tags_moved = ("dst/a:v1",)
    text = report.failure_summary(error, "reg/x:1", report.Run(phase="copy"))
    assert "| Failed at | `dst/b:v1` |" in text
    assert "| Tags already moved | `dst/a:v1` |" in text


async def _credential(settings: Settings, registry: str, explicit: Credential | None) -> Credential | None:
    async with AsyncExitStack() as stack:
        return Connections(settings.connect_options(), stack).credential(registry, explicit)


def test_github_token_is_the_last_resort_for_ghcr_only(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    token = Secret("ghs_token")
    settings = action.ActionSettings(github_token=token, docker_config=empty)

    fallback = asyncio.run(_credential(settings, "ghcr.io", None))
    assert fallback == Credential(GITHUB_TOKEN_USERNAME, token)
    assert asyncio.run(_credential(settings, "registry.example.com", None)) is None

    explicit = Credential("me", Secret("pw"))
    assert asyncio.run(_credential(settings, "ghcr.io", explicit)) == explicit

    config = tmp_path / "config.json"
    auth = base64.b64encode(b"octocat:ghp_from_login").decode()
    config.write_text(json.dumps({"auths": {"ghcr.io": {"auth": auth}}}))
    from_login = asyncio.run(
        _credential(action.ActionSettings(github_token=token, docker_config=config), "ghcr.io", None)
    )
    assert from_login == Credential("octocat", Secret("ghp_from_login"))
