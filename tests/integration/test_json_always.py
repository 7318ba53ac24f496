"""Every `--json` run prints one JSON object on stdout, failures included (issue 18 item 16)."""

from __future__ import annotations

import json
import subprocess

import pytest

from testkit.registry import RunningRegistry, free_port
from tests.integration.test_cli import TESTREPO, V3, cli, seed


def _one_error_object(result: subprocess.CompletedProcess[str], code: int) -> dict[str, object]:
    assert result.returncode == code, result.stderr
    report = json.loads(result.stdout)  # the whole of stdout is one object
    assert isinstance(report, dict) and report["exit_code"] == code, report
    line = result.stderr.strip().splitlines()[-1]
    assert isinstance(report["error"], str) and report["error"] and report["error"] in line, (report, line)
    return report


@pytest.mark.parametrize(
    "args",
    [
        ["copy", "--json", f"oci:{TESTREPO}:v3"],
        ["copy", "--json", "--jobs", "many", f"oci:{TESTREPO}:v3", "oci:/tmp/x"],
        ["copy", "--json", "--no-such-flag", f"oci:{TESTREPO}:v3", "oci:/tmp/x"],
    ],
)
def test_a_copy_usage_error(args: list[str]) -> None:
    report = _one_error_object(cli(*args), 2)
    assert report["tags_moved"] == [] and report["destination"] is None


def test_diff_and_verify_of_an_unreachable_registry() -> None:
    gone = f"127.0.0.1:{free_port()}"
    _one_error_object(cli("diff", "--json", f"{gone}/a/b:1", f"oci:{TESTREPO}:v3"), 2)
    _one_error_object(cli("verify", "--json", "--digest", V3, f"{gone}/a/b:1"), 2)


def test_diff_and_verify_of_a_missing_reference(registry: RunningRegistry) -> None:
    there = seed(registry)
    missing = f"{registry.host}/src/app:nothing-here"
    report = _one_error_object(cli("diff", "--json", there, missing), 2)
    assert "nothing-here" in str(report["error"])
    verified = cli("verify", "--json", "--digest", V3, there, missing)
    assert (
        verified.returncode == 1 and json.loads(verified.stdout)["verified"] is False
    )  # an answer, not an error
    _one_error_object(cli("verify", "--json", "--digest", V3, "oci:/nonexistent/layout:v1"), 2)
