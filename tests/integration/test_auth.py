"""Credentials against real registries: Basic (htpasswd) and Bearer tokens (a JWT token server)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from testkit import skopeo
from testkit.registry import RunningRegistry
from tests.integration.test_cli import TESTREPO, V3, cli


def _creds(reg: RunningRegistry) -> str:
    assert reg.username and reg.password
    return f"{reg.username}:{reg.password}"


def _everything_printed(*results: object) -> str:
    return "\n".join(f"{r.stdout}\n{r.stderr}" for r in results)  # type: ignore[attr-defined]


def test_basic_auth_with_flags_and_the_password_is_never_printed(
    basic_registry: RunningRegistry, registry: RunningRegistry
) -> None:
    dest = f"{basic_registry.host}/secure/app:v3"
    pushed = cli("copy", "-v", "--json", f"oci:{TESTREPO}:v3", dest, "--dest-creds", _creds(basic_registry))
    assert pushed.returncode == 0, pushed.stderr
    back = cli("copy", "-v", dest, f"{registry.host}/plain/app", "--src-creds", _creds(basic_registry))
    assert back.returncode == 0, back.stderr
    assert skopeo.inspect_raw(dest, creds=basic_registry.creds) == skopeo.inspect_raw(
        f"{registry.host}/plain/app:v3"
    )
    assert basic_registry.password not in _everything_printed(pushed, back)


def test_basic_auth_credentials_from_environment(basic_registry: RunningRegistry) -> None:
    assert basic_registry.username and basic_registry.password
    env = {
        "OCI_PROMOTE_DEST_USERNAME": basic_registry.username,
        "OCI_PROMOTE_DEST_PASSWORD": basic_registry.password,
    }
    result = cli("copy", "-v", f"oci:{TESTREPO}:v2", f"{basic_registry.host}/env/app", env=env)
    assert result.returncode == 0, result.stderr
    env2 = {"OCI_PROMOTE_SRC_CREDS": _creds(basic_registry)}
    digest = cli("digest", "-v", f"{basic_registry.host}/env/app:v2", env=env2)
    assert digest.returncode == 0, digest.stderr
    assert basic_registry.password not in _everything_printed(result, digest)


def test_missing_credentials_is_a_clear_error(basic_registry: RunningRegistry) -> None:
    result = cli("copy", f"oci:{TESTREPO}:v3", f"{basic_registry.host}/secure/app")
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert basic_registry.host in line and "authentication required" in line
    assert f"no credentials for {basic_registry.host}" in line and "docker login" in line
    assert "refused the credentials" not in line
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_password_is_a_clear_error_without_echoing_it(basic_registry: RunningRegistry) -> None:
    wrong = "not-the-Password-123"
    result = cli(
        "copy",
        f"oci:{TESTREPO}:v3",
        f"{basic_registry.host}/secure/app",
        "--dest-creds",
        f"{basic_registry.username}:{wrong}",
    )
    assert result.returncode == 1
    # Was: "authentication required or credentials rejected" (it could not tell which); now it says.
    line = result.stderr.strip().splitlines()[-1]
    assert f"{basic_registry.host} refused the credentials" in line and "no credentials" not in line
    assert wrong not in result.stderr + result.stdout


def _docker_config(tmp_path: Path, registry: str, auth_entry: dict[str, str], **extra: object) -> Path:
    """A config.json as `docker login` / docker/login-action write it."""
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps({"auths": {registry: auth_entry}, **extra}))
    return config_dir


def test_docker_config_auths_entry(basic_registry: RunningRegistry, tmp_path: Path) -> None:
    token = base64.b64encode(_creds(basic_registry).encode()).decode()
    config_dir = _docker_config(tmp_path, basic_registry.host, {"auth": token})
    result = cli(
        "copy", f"oci:{TESTREPO}:v3", f"{basic_registry.host}/cfg/app", env={"DOCKER_CONFIG": str(config_dir)}
    )
    assert result.returncode == 0, result.stderr
    assert basic_registry.password not in _everything_printed(result)


def test_docker_config_credential_helper(basic_registry: RunningRegistry, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-testhelper"
    answer = json.dumps(
        {
            "ServerURL": basic_registry.host,
            "Username": basic_registry.username,
            "Secret": basic_registry.password,
        }
    )
    helper.write_text(f"#!/bin/sh\nread server\necho \"$server\" >> {tmp_path}/asked\necho '{answer}'\n")
    helper.chmod(0o755)
    config_dir = _docker_config(
        tmp_path, "unrelated.example", {}, credHelpers={basic_registry.host: "testhelper"}
    )
    env = {"DOCKER_CONFIG": str(config_dir), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = cli("copy", f"oci:{TESTREPO}:v3", f"{basic_registry.host}/helper/app", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "asked").read_text().split() == [basic_registry.host]
    assert basic_registry.password not in _everything_printed(result)


def test_bearer_token_flow_caches_tokens_per_scope(
    token_registry: RunningRegistry, registry: RunningRegistry
) -> None:
    assert token_registry.token_server is not None
    dest = f"{token_registry.host}/tok/app:v3"
    result = cli("copy", "-v", f"oci:{TESTREPO}:v3", dest, "--dest-creds", _creds(token_registry))
    assert result.returncode == 0, result.stderr
    assert token_registry.password not in _everything_printed(result)
    requests = token_registry.token_server.recorded()
    # one token for the destination's pull,push scope serves every HEAD, upload and push
    assert len(requests) == 1, requests
    assert requests[0].scopes == ["repository:tok/app:pull,push"]
    assert requests[0].authorization_present

    token_registry.token_server.clear()
    result = cli(
        "copy",
        dest,
        f"{token_registry.host}/tok/mounted",
        "--src-creds",
        _creds(token_registry),
        "--dest-creds",
        _creds(token_registry),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["destinations"][0]["blobs_mounted"] == 9
    scopes = [sorted(r.scopes) for r in token_registry.token_server.recorded()]
    assert ["repository:tok/app:pull", "repository:tok/mounted:pull,push"] in scopes
    assert len(scopes) <= 2, scopes
    assert token_registry.password not in _everything_printed(result)
    assert skopeo.inspect_raw(f"{token_registry.host}/tok/mounted:v3", creds=token_registry.creds)
    assert cli("digest", dest, "--src-creds", _creds(token_registry)).stdout.strip() == V3


def test_bearer_without_credentials_is_a_clear_error(token_registry: RunningRegistry) -> None:
    result = cli("copy", f"oci:{TESTREPO}:v3", f"{token_registry.host}/tok/app")
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert token_registry.host in line and "authentication required" in line
    assert f"no credentials for {token_registry.host}" in line and "docker login" in line
    assert "refused the credentials" not in line
    assert "Traceback" not in result.stderr
