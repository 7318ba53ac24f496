"""One htpasswd (Basic) registry as source and destination: the first requests race (issue 18 item 1).

Several requests go out at once before the client knows the registry wants Basic; each
gets a 401, and each must be retried with the credentials, not only the first one.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from testkit import skopeo
from testkit.registry import LogMark, RunningRegistry
from tests.integration.test_cli import TESTREPO, V3, cli


def _login(tmp_path: Path, reg: RunningRegistry) -> dict[str, str]:
    """A Docker config with a `docker login` entry for `reg`, as the user had."""
    token = base64.b64encode(f"{reg.username}:{reg.password}".encode()).decode()
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": token}}}))
    return {"DOCKER_CONFIG": str(config_dir)}


@pytest.fixture
def seeded(basic_registry: RunningRegistry, tmp_path: Path) -> tuple[RunningRegistry, dict[str, str]]:
    env = _login(tmp_path, basic_registry)
    pushed = cli("copy", f"oci:{TESTREPO}:v3", f"{basic_registry.host}/sec/app:1", env=env)
    assert pushed.returncode == 0, pushed.stderr
    return basic_registry, env


def _first_requests_raced(reg: RunningRegistry, mark: LogMark) -> None:
    """More than one request went out before Basic was known: the case this file is about."""
    refused = [e for e in reg.requests_since(mark) if e.status == 401]
    assert len(refused) >= 2, refused


@pytest.mark.parametrize("jobs", ["1", "8"])
def test_copy_to_another_repository_on_the_same_registry(
    seeded: tuple[RunningRegistry, dict[str, str]], jobs: str
) -> None:
    reg, env = seeded
    mark = reg.mark()
    result = cli("copy", "--jobs", jobs, f"{reg.host}/sec/app:1", f"{reg.host}/sec/app2:1", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [f"{reg.host}/sec/app2@{V3}"]
    assert skopeo.inspect_raw(f"{reg.host}/sec/app2:1", creds=reg.creds) == skopeo.inspect_raw(
        f"{reg.host}/sec/app:1", creds=reg.creds
    )
    _first_requests_raced(reg, mark)
    assert reg.password not in result.stdout + result.stderr


def test_retag_in_one_repository(seeded: tuple[RunningRegistry, dict[str, str]]) -> None:
    reg, env = seeded
    result = cli("copy", "--jobs", "4", f"{reg.host}/sec/app:1", f"{reg.host}/sec/app:2", env=env)
    assert result.returncode == 0, result.stderr
    assert skopeo.inspect_raw(f"{reg.host}/sec/app:2", creds=reg.creds) == skopeo.inspect_raw(
        f"{reg.host}/sec/app:1", creds=reg.creds
    )


def test_two_destinations_on_the_registry(seeded: tuple[RunningRegistry, dict[str, str]]) -> None:
    reg, env = seeded
    result = cli(
        "copy",
        "--jobs",
        "4",
        f"{reg.host}/sec/app:1",
        f"{reg.host}/prod/a:1",
        f"{reg.host}/prod/b:1",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [f"{reg.host}/prod/a@{V3}", f"{reg.host}/prod/b@{V3}"]


def test_diff_of_two_images_there(seeded: tuple[RunningRegistry, dict[str, str]]) -> None:
    reg, env = seeded
    assert cli("copy", f"oci:{TESTREPO}:v2", f"{reg.host}/sec/other:2", env=env).returncode == 0
    same = cli("diff", "--json", f"{reg.host}/sec/app:1", f"{reg.host}/sec/app:1", env=env)
    assert same.returncode == 0, same.stderr
    other = cli("diff", "--json", f"{reg.host}/sec/app:1", f"{reg.host}/sec/other:2", env=env)
    assert other.returncode == 1, other.stderr
    assert json.loads(other.stdout)["identical"] is False


def test_verify_three_references_there(seeded: tuple[RunningRegistry, dict[str, str]]) -> None:
    reg, env = seeded
    for tag in ("2", "3"):
        assert cli("copy", f"{reg.host}/sec/app:1", f"{reg.host}/sec/app:{tag}", env=env).returncode == 0
    refs = [f"{reg.host}/sec/app:{tag}" for tag in ("1", "2", "3")]
    result = cli("verify", "--digest", V3, *refs, env=env)
    assert result.returncode == 0, result.stderr


def test_a_refused_destination_names_the_destination_flag(
    seeded: tuple[RunningRegistry, dict[str, str]],
) -> None:
    reg, _ = seeded
    good, wrong = f"{reg.username}:{reg.password}", f"{reg.username}:not-it-123"
    src, dest = f"{reg.host}/sec/app:1", f"{reg.host}/sec/app2:1"
    result = cli("copy", src, dest, "--src-creds", good, "--dest-creds", wrong)
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"oci-promote: error: destination {dest}"), line
    assert "--dest-creds" in line and "--src-creds" not in line, line
    refused = cli("copy", src, dest, "--src-creds", wrong, "--dest-creds", good)
    line = refused.stderr.strip().splitlines()[-1]
    assert "--src-creds" in line and "--dest-creds" not in line, line
    assert "not-it-123" not in result.stderr + refused.stderr + result.stdout + refused.stdout


def test_missing_credentials_give_the_docker_login_advice_once(
    basic_registry: RunningRegistry, tmp_path: Path
) -> None:
    """Issue 18 item 21: the advice came from the library and again from the CLI."""
    result = cli("copy", f"oci:{TESTREPO}:v3", f"{basic_registry.host}/sec/app:1")
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.count("docker login") == 1, line
    assert "--dest-creds" in line and "--src-creds" not in line, line
