"""action.yml run as the runner runs it, against real local registries."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from oci_promote.action import OUTPUTS
from testkit.action_runner import ActionRun, ActionRunner
from testkit.registry import LogMark, RunningRegistry
from tests.action.conftest import Image

OTHER_DIGEST = "sha256:" + "0" * 64


def _tag_exists(reg: RunningRegistry, repo: str, tag: str) -> bool:
    headers = {"Accept": "application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json"}
    with reg.client() as client:
        return client.head(f"/v2/{repo}/manifests/{tag}", headers=headers).status_code == 200


def _writes(reg: RunningRegistry, since: LogMark) -> list[str]:
    return [f"{e.method} {e.path}" for e in reg.requests_since(since) if e.method not in ("GET", "HEAD")]


def _assert_failed_cleanly(run: ActionRun, code: int) -> None:
    assert run.returncode == code, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert run.step_outcomes["promote"] == "failure"


@pytest.mark.slow
def test_promotes_to_several_destinations_and_outputs_the_digest(
    action: ActionRunner, image: Image, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    destinations = [
        registry2.ref("prod/api", "1.4.2"),
        registry2.ref("prod/api", "stable"),
        registry.ref("acme/api", "stable"),  # same registry: blobs are mounted or skipped
    ]
    run = action.run({"source": image.ref, "destinations": "\n".join(destinations) + "\n"}, artifacts=True)

    assert run.returncode == 0, run.stdout + run.stderr
    assert run.outputs["digest"] == image.digest
    pinned = [
        f"{registry2.host}/prod/api@{image.digest}",
        f"{registry.host}/acme/api@{image.digest}",
    ]
    # One line per destination, in order: line N is destination N (two share a pinned form).
    assert run.outputs["references"].splitlines() == [pinned[0], pinned[0], pinned[1]]
    result = json.loads(run.outputs["json"])
    assert result["digest"] == image.digest
    assert [d["reference"] for d in result["destinations"]] == destinations
    for ref in destinations:
        host_repo, tag = ref.rsplit(":", 1)
        host, repo = host_repo.split("/", 1)
        reg = registry2 if host == registry2.host else registry
        assert _tag_exists(reg, repo, tag)

    groups = [c.message for c in run.commands if c.name == "group"]
    assert groups[-3:] == ["Resolve the source", "Copy to 3 destinations", "Verify 3 destinations"]
    assert not run.annotations("error")

    assert (
        "| Destination | Pinned reference | Blobs copied | Mounted | Skipped | Bytes | Seconds |"
        in run.summary
    )
    assert f"| Digest | `{image.digest}` |" in run.summary
    for ref in destinations:
        assert f"| `{ref}` | `{ref.rsplit(':', 1)[0]}@{image.digest}` |" in run.summary
    assert run.artifacts.splitlines() == [f"oci://{p}" for p in pinned]


def test_expected_digest_mismatch_fails_before_writing(
    action: ActionRunner, image: Image, registry2: RunningRegistry
) -> None:
    mark = registry2.mark()
    run = action.run(
        {
            "source": image.ref,
            "destinations": registry2.ref("prod/api", "1.4.2"),
            "expected-digest": OTHER_DIGEST,
        }
    )

    _assert_failed_cleanly(run, 1)
    [error] = run.annotations("error")
    assert "Digest mismatch" in error.properties["title"]
    assert image.digest in error.message and OTHER_DIGEST in error.message
    assert not _tag_exists(registry2, "prod/api", "1.4.2")
    assert _writes(registry2, mark) == []
    assert run.outputs == dict.fromkeys(OUTPUTS, "")
    assert "### oci-promote: failed" in run.summary
    assert f"| Expected digest | `{OTHER_DIGEST}` |" in run.summary
    assert f"| Found | `{image.digest}` |" in run.summary


def test_invalid_destination_is_reported_before_any_request(
    action: ActionRunner, image: Image, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    marks = registry.mark(), registry2.mark()
    bad = f"{registry2.host}/Prod/API:1.4.2"
    run = action.run(
        {"source": image.ref, "destinations": f"{registry2.ref('prod/api', 'ok')}, {bad}"},
    )

    _assert_failed_cleanly(run, 2)
    [error] = run.annotations("error")
    assert error.properties["title"] == "Invalid input: destinations"
    assert bad in error.message and "lowercase" in error.message
    assert registry.requests_since(marks[0]) == []
    assert registry2.requests_since(marks[1]) == []
    assert "| `destinations` |" in run.summary


def test_every_bad_input_is_named(action: ActionRunner, registry: RunningRegistry) -> None:
    mark = registry.mark()
    run = action.run(
        {
            "source": registry.ref("acme/api", "1"),
            "destinations": registry.ref("acme/api", "2"),
            "expected-digest": "sha256:abc",
            "source-username": "someone",
            "docker-config": "/nonexistent/config.json",
            "insecure-registries": "good.example:5000, not/a/host",
        }
    )

    _assert_failed_cleanly(run, 2)
    errors = {e.properties["title"]: e.message for e in run.annotations("error")}
    assert list(errors) == [
        "Invalid input: expected-digest",
        "Invalid input: source-password",
        "Invalid input: docker-config",
        "Invalid input: insecure-registries",
    ]
    assert "64 lowercase hex" in errors["Invalid input: expected-digest"]
    assert "source-username is set" in errors["Invalid input: source-password"]
    assert "not/a/host" in errors["Invalid input: insecure-registries"]
    assert registry.requests_since(mark) == []


def test_every_bad_input_is_reported_in_one_run(action: ActionRunner, registry: RunningRegistry) -> None:
    """A bad `jobs` (a type error) no longer hides the other wrong inputs."""
    mark = registry.mark()
    run = action.run(
        {
            "source": registry.ref("Acme/API", "1"),
            "destinations": f"{registry.ref('acme/api', '2')}, {registry.host}/Bad/Name:1",
            "expected-digest": "sha256:abc",
            "source-username": "someone",
            "insecure-registries": "http://registry.example:5000",
            "jobs": "0",
        }
    )
    _assert_failed_cleanly(run, 2)
    names = ("source", "destinations", "expected-digest", "source-password", "insecure-registries", "jobs")
    titles = [e.properties["title"] for e in run.annotations("error")]
    assert titles == [f"Invalid input: {name}" for name in names]
    assert registry.requests_since(mark) == []
    for name in names:
        assert f"| `{name}` |" in run.summary


def test_type_errors_are_named_without_echoing_values(
    action: ActionRunner, registry: RunningRegistry
) -> None:
    run = action.run(
        {
            "source": registry.ref("acme/api", "1"),
            "destinations": registry.ref("acme/api", "2"),
            "jobs": "0",
            "dry-run": "maybe",
        }
    )
    _assert_failed_cleanly(run, 2)
    errors = {e.properties["title"]: e.message for e in run.annotations("error")}
    assert set(errors) == {"Invalid input: dry-run", "Invalid input: jobs"}
    assert "maybe" not in errors["Invalid input: dry-run"]
    assert "must be at least 1" in errors["Invalid input: jobs"]  # options.BOUNDS["jobs"]


def _docker_login_config(reg: RunningRegistry) -> str:
    """config.json as `docker login` (so docker/login-action) writes it: tabs, base64 auth."""
    assert reg.creds is not None
    auth = base64.b64encode(f"{reg.creds[0]}:{reg.creds[1]}".encode()).decode()
    return json.dumps({"auths": {reg.host: {"auth": auth}}}, indent="\t")


@pytest.mark.parametrize("where", ["default-location", "docker-config-input", "credential-helper"])
def test_credentials_from_a_docker_config_file(
    action: ActionRunner, image: Image, basic_registry: RunningRegistry, tmp_path: Path, where: str
) -> None:
    assert basic_registry.creds is not None
    user, password = basic_registry.creds
    inputs = {"source": image.ref, "destinations": basic_registry.ref("prod/api", "1.4.2")}
    env: dict[str, str] = {}
    path: list[Path] = []
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    if where == "credential-helper":
        helper = tmp_path / "bin" / "docker-credential-oci-promote-test"
        helper.parent.mkdir()
        answer = json.dumps({"ServerURL": basic_registry.host, "Username": user, "Secret": password})
        helper.write_text(f"#!/bin/sh\ncat >/dev/null\necho '{answer}'\n")
        helper.chmod(0o755)
        path.append(helper.parent)
        (config_dir / "config.json").write_text(
            json.dumps({"auths": {}, "credHelpers": {basic_registry.host: "oci-promote-test"}}, indent="\t")
        )
        env["DOCKER_CONFIG"] = str(config_dir)
    elif where == "docker-config-input":
        (config_dir / "elsewhere.json").write_text(_docker_login_config(basic_registry))
        inputs["docker-config"] = str(config_dir / "elsewhere.json")
    else:
        env["DOCKER_CONFIG"] = str(config_dir)  # what docker/login-action honours, else ~/.docker
        (config_dir / "config.json").write_text(_docker_login_config(basic_registry))

    run = action.run(inputs, env=env, path_prepend=path)

    assert run.returncode == 0, run.stdout + run.stderr
    assert run.outputs["digest"] == image.digest
    assert _tag_exists_with_auth(basic_registry, "prod/api", "1.4.2")
    assert password not in run.shown()


def _tag_exists_with_auth(reg: RunningRegistry, repo: str, tag: str) -> bool:
    assert reg.creds is not None
    with reg.client(auth=reg.creds) as client:
        response = client.head(
            f"/v2/{repo}/manifests/{tag}",
            headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        )
    return response.status_code == 200


def test_passwords_are_masked_first_and_appear_nowhere(
    action: ActionRunner, image: Image, basic_registry: RunningRegistry
) -> None:
    assert basic_registry.creds is not None
    user, password = basic_registry.creds
    run = action.run(
        {
            "source": image.ref,
            "destinations": basic_registry.ref("prod/api", "1.4.2"),
            "destination-username": user,
            "destination-password": password,
            "github-token": "ghp_notARealToken1234567890",
        }
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert password in run.masks and "ghp_notARealToken1234567890" in run.masks
    promote_lines = run.stdout.splitlines()
    first_group = next(
        i for i, line in enumerate(promote_lines) if line.startswith("::group") and "Resolve" in line
    )
    last_mask = max(i for i, line in enumerate(promote_lines) if line.startswith("::add-mask"))
    assert last_mask < first_group
    for secret in (password, "ghp_notARealToken1234567890"):
        assert secret not in run.shown()
        assert secret not in run.summary
        assert all(secret not in value for value in run.outputs.values())


def test_wrong_password_fails_with_an_annotation_and_no_secret(
    action: ActionRunner, image: Image, basic_registry: RunningRegistry
) -> None:
    assert basic_registry.creds is not None
    wrong = "not-the-Passw0rd"
    run = action.run(
        {
            "source": image.ref,
            "destinations": basic_registry.ref("prod/api", "1.4.2"),
            "destination-username": basic_registry.creds[0],
            "destination-password": wrong,
        }
    )
    _assert_failed_cleanly(run, 1)
    [error] = run.annotations("error")
    assert "authentication" in error.properties["title"].lower()
    # Says the credentials were refused, and which inputs supplied them.
    assert "refused" in error.message
    assert "destination-username/destination-password" in error.message
    assert wrong not in run.shown() and wrong not in run.summary


def test_missing_credentials_name_the_inputs_that_supply_them(
    action: ActionRunner, image: Image, basic_registry: RunningRegistry
) -> None:
    run = action.run({"source": image.ref, "destinations": basic_registry.ref("prod/api", "1.4.2")})
    _assert_failed_cleanly(run, 1)
    [error] = run.annotations("error")
    assert "no credentials" in error.message
    assert "destination-username/destination-password" in error.message
    assert "docker/login-action" in error.message and "source-username" not in error.message


def test_inputs_are_trimmed_secrets_included(
    action: ActionRunner, image: Image, basic_registry: RunningRegistry
) -> None:
    """A secret pasted with a trailing newline still authenticates (as @actions/core trims)."""
    assert basic_registry.creds is not None
    run = action.run(
        {
            "source": f"  {image.ref}\n",
            "destinations": basic_registry.ref("prod/api", "1.4.2") + "\n",
            "destination-username": basic_registry.creds[0] + " \n",
            "destination-password": basic_registry.creds[1] + "\n",
            "jobs": "2\n",
        }
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.outputs["digest"] == image.digest


def test_dry_run_writes_nothing(action: ActionRunner, image: Image, registry2: RunningRegistry) -> None:
    mark = registry2.mark()
    run = action.run(
        {"source": image.ref, "destinations": registry2.ref("prod/api", "1.4.2"), "dry-run": "true"}
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.outputs["digest"] == image.digest
    assert _writes(registry2, mark) == []
    assert not _tag_exists(registry2, "prod/api", "1.4.2")
    assert "### oci-promote: dry run" in run.summary


def test_values_cannot_inject_workflow_commands(action: ActionRunner, registry: RunningRegistry) -> None:
    run = action.run(
        {
            "source": "evil\n::warning::injected-from-source",
            "destinations": "::error title=x::injected,\r\n::add-mask::x",
        }
    )
    _assert_failed_cleanly(run, 2)
    names = [c.name for c in run.commands]
    assert "warning" not in names
    assert run.masks == [action.github["token"]]  # only the secret input: nothing injected
    errors = run.annotations("error")
    assert {e.properties["title"] for e in errors} == {"Invalid input: source", "Invalid input: destinations"}
    for line in run.stdout.splitlines():
        assert not line.startswith(("::warning::", "::error title=x::", "::add-mask::x"))
    # The title property had its ':' escaped on the wire.
    assert "title=Invalid input%3A source::" in run.stdout


def _real_python(version: str) -> str | None:
    """A real `pythonX.Y` executable: on PATH, or installed by pyenv but not selected.

    Returns the interpreter itself, not a pyenv shim: shims dispatch on their own file name,
    so a shim linked as `python3` would run the default Python instead.
    """
    candidates = [f"python{version}"]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(str(p) for p in pyenv_root.glob(f"versions/{version}.*/bin/python{version}"))
    for candidate in candidates:
        if shutil.which(candidate) is None:
            continue
        proc = subprocess.run(
            [candidate, "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
    return None


def _python3_dir(tmp_path: Path, executable: str) -> Path:
    bin_dir = tmp_path / "python-bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(executable)
    return bin_dir


def test_python_older_than_3_10_is_refused_clearly(action: ActionRunner, tmp_path: Path) -> None:
    old = _real_python("3.9")
    if old is None:
        pytest.skip("no Python 3.9 on this machine to stand in for an old runner Python")
    run = action.run(
        {"source": "127.0.0.1:1/a:b", "destinations": "127.0.0.1:1/a:c"},
        path_prepend=[_python3_dir(tmp_path, old)],
    )
    assert run.returncode == 1
    assert run.step_outcomes == {"setup": "failure"}
    [error] = run.annotations("error")
    assert error.properties["title"] == "oci-promote needs Python 3.10 or newer"
    assert "Python 3.9" in error.message and "actions/setup-python" in error.message


@pytest.mark.slow
def test_runs_on_python_3_10(
    action: ActionRunner, image: Image, registry2: RunningRegistry, tmp_path: Path
) -> None:
    """3.10 gets github-action-utils 1.1 from the lock's markers; outputs must still be exact."""
    py310 = _real_python("3.10")
    if py310 is None:
        pytest.skip("no Python 3.10 on this machine")
    destinations = [registry2.ref("prod/api", "1.4.2"), registry2.ref("mirror/api", "1.4.2")]
    run = action.run(
        {"source": image.ref, "destinations": ",".join(destinations)},
        path_prepend=[_python3_dir(tmp_path, py310)],
        artifacts=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "github-action-utils-1.1.0" in run.stdout  # the fallback path really ran
    assert run.outputs["digest"] == image.digest
    pinned = [f"{registry2.host}/prod/api@{image.digest}", f"{registry2.host}/mirror/api@{image.digest}"]
    assert run.outputs["references"].splitlines() == pinned
    assert json.loads(run.outputs["json"])["digest"] == image.digest
    assert run.artifacts.splitlines() == [f"oci://{p}" for p in pinned]
    assert "| Destination | Pinned reference |" in run.summary


def test_promotes_from_an_oci_layout(
    action: ActionRunner, registry2: RunningRegistry, tmp_path: Path
) -> None:
    """The self-test workflow seeds its registries this way, from make_layout.py."""
    from testkit.make_layout import make_layout

    digest = make_layout(tmp_path / "layout", "v1")
    assert make_layout(tmp_path / "again", "v1") == digest  # deterministic
    run = action.run(
        {"source": f"oci:{tmp_path / 'layout'}:v1", "destinations": registry2.ref("selftest/app")}
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.outputs["digest"] == digest
    assert run.outputs["references"] == f"{registry2.host}/selftest/app@{digest}"
    assert _tag_exists(registry2, "selftest/app", "latest")
