"""The CLI as people use it: --version, flags anywhere, JSON failures, the environment, input checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from oci_promote.cli.args import env_name
from oci_promote.cli.main import main
from oci_promote.frontend.settings import Settings
from oci_promote.types.reference import parse_reference
from testkit.proxy import Action, Forward, Proxy, RequestView, Respond
from testkit.registry import RunningRegistry
from tests.integration.test_cli import TESTREPO, V3, WRITES, cli, seed

CLI_DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_version_prints_the_package_version() -> None:
    result = cli("--version")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"oci-promote \d+\.\d+\S*\n", result.stdout)


def test_quiet_and_verbose_before_or_after_the_command(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    before = cli("-q", "copy", source, f"{registry2.host}/q/one:v1")
    after = cli("copy", source, f"{registry2.host}/q/two:v1", "-q")
    for result in (before, after):
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert result.stdout == f"{registry2.host}/q/{'one' if result is before else 'two'}@{V3}\n"
    verbose = cli("-v", "digest", source)
    assert verbose.returncode == 0, verbose.stderr
    assert "GET" in verbose.stderr or "HEAD" in verbose.stderr


def test_json_failure_is_a_json_object_on_stdout(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    wrong = "sha256:" + "0" * 64
    result = cli("copy", "--json", "--expected-digest", wrong, source, f"{registry2.host}/j/app:v1")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["exit_code"] == 1 and data["tags_moved"] == [] and data["destination"] is None
    assert wrong in data["error"] and data["error"] in result.stderr
    assert len(result.stderr.strip().splitlines()) >= 1 and "Traceback" not in result.stderr
    usage = cli("copy", "--json", "http://localhost:1/a", f"{registry2.host}/j/app:v1")
    assert usage.returncode == 2
    assert json.loads(usage.stdout)["exit_code"] == 2


def test_every_environment_variable_is_documented() -> None:
    help_text = cli("copy", "--help").stdout
    reference = CLI_DOCS.read_text()
    for field in Settings.field_names():
        assert env_name(field) in help_text, field
        assert env_name(field) in reference, field


def test_settings_from_the_environment_are_named_never_shown(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    mark = registry2.mark()
    env = {"OCI_PROMOTE_DRY_RUN": "true", "OCI_PROMOTE_DEST_CREDS": "user:s3cr3t-value"}
    result = cli("copy", source, f"{registry2.host}/env/app:v1", env=env)
    assert result.returncode == 0, result.stderr
    assert "settings from the environment: OCI_PROMOTE_DEST_CREDS, OCI_PROMOTE_DRY_RUN" in result.stderr
    assert "s3cr3t-value" not in result.stderr + result.stdout
    assert not [e for e in registry2.requests_since(mark) if e.method in WRITES]
    # --no-dry-run overrides the environment, and the variable is then not reported as used.
    real = cli(
        "copy", "--no-dry-run", source, f"{registry2.host}/env/app:v1", env={"OCI_PROMOTE_DRY_RUN": "1"}
    )
    assert real.returncode == 0, real.stderr
    assert real.stdout == f"{registry2.host}/env/app@{V3}\n"
    assert "OCI_PROMOTE_DRY_RUN" not in real.stderr


def test_missing_docker_config_is_a_usage_error(registry: RunningRegistry) -> None:
    source = seed(registry)
    mark = registry.mark()
    result = cli("copy", "--docker-config", "/nonexistent/config.json", source, f"{registry.host}/d/app:v1")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "oci-promote: error: --docker-config: no such file or directory: /nonexistent/config.json"
    ]
    assert registry.requests_since(mark) == []
    from_env = cli("digest", source, env={"OCI_PROMOTE_DOCKER_CONFIG": "/nonexistent/dir"})
    assert from_env.returncode == 2 and "OCI_PROMOTE_DOCKER_CONFIG" in from_env.stderr


def test_insecure_registry_as_url_is_refused_and_upper_case_is_folded(
    registry: RunningRegistry, tls_test_hostname: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = seed(registry)
    url = cli("copy", "--insecure-registry", "http://registry.example:5000", source, f"{registry.host}/i/a")
    assert url.returncode == 2
    assert "without a URL scheme" in url.stderr and len(url.stderr.splitlines()) == 1
    # A name with letters and not loopback, so only --insecure-registry allows plain HTTP
    # (in-process: the name resolves to 127.0.0.1 here only).
    plain = f"{tls_test_hostname}:{registry.host.rsplit(':', 1)[1]}"
    assert main(["copy", "--retries", "0", source, f"{plain}/i/b:v1"]) == 1
    assert "does not speak TLS" in capsys.readouterr().err
    assert main(["copy", "--insecure-registry", plain.upper(), source, f"{plain}/i/b:v1"]) == 0
    assert capsys.readouterr().out == f"{plain}/i/b@{V3}\n"


def test_docker_prefix_is_accepted_and_urls_are_explained(registry: RunningRegistry) -> None:
    source = seed(registry)
    result = cli("copy", f"docker://{source}", f"docker://{registry.host}/p/app:v1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{registry.host}/p/app@{V3}\n"
    for given in (f"http://{registry.host}/p/app", f"https://{registry.host}/p/app"):
        refused = cli("copy", f"oci:{TESTREPO}:v3", given)
        assert refused.returncode == 2
        (line,) = refused.stderr.splitlines()
        assert "HOST/REPO[:TAG|@DIGEST]" in line and "invalid port" not in line


def test_401_names_the_flag_that_supplies_credentials(basic_registry: RunningRegistry) -> None:
    missing = cli("copy", f"oci:{TESTREPO}:v3", f"{basic_registry.host}/auth/app:v1")
    assert missing.returncode == 1
    assert "--dest-creds" in missing.stderr.splitlines()[-1]
    refused = cli("digest", f"{basic_registry.host}/auth/app:v1", "--src-creds", "nobody:wrong")
    assert refused.returncode == 1
    line = refused.stderr.splitlines()[-1]
    assert "--src-creds" in line and "refused" in line and "wrong" not in line


def test_docker_hub_is_printed_as_people_spell_it() -> None:
    digest = "sha256:" + "a" * 64
    ref = parse_reference("acme/api:1.4.2")
    assert ref.registry == "registry-1.docker.io"  # the API host stays internal
    assert str(ref) == "docker.io/acme/api:1.4.2"
    assert ref.pinned(parse_reference(f"x/y@{digest}").digest) == f"docker.io/acme/api@{digest}"  # type: ignore[arg-type]
    assert str(parse_reference("nginx")) == "docker.io/library/nginx:latest"
    assert parse_reference(str(ref)) == ref


def test_schema1_refusal_names_the_reference(registry: RunningRegistry, registry2: RunningRegistry) -> None:
    source = seed(registry)
    schema1 = Respond(
        200,
        {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"},
        b'{"schemaVersion": 1, "name": "src/app", "tag": "v3", "fsLayers": []}',
    )

    def handle(request: RequestView) -> Action:
        return schema1 if "/manifests/" in request.path else Forward()

    with Proxy(registry.url) as proxy:
        proxy.set_handler(handle)
        shown = source.replace(registry.host, proxy.host)
        result = cli("copy", shown, f"{registry2.host}/s1/app:v1", "--retries", "0")
    assert result.returncode == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("oci-promote: error:")]
    assert "schema 1" in line and shown in line
