"""The library does what its arguments say: no environment, no silently ignored option."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import anyio
import pytest

import oci_promote
from oci_promote.errors import AuthenticationError, UsageError
from oci_promote.transport.credentials import Credential
from oci_promote.types.digest import parse_digest
from oci_promote.types.secret import Secret
from testkit.registry import RunningRegistry
from tests.integration.diff_tools import build_image
from tests.integration.test_cli import TESTREPO, V3

SOURCE = f"oci:{TESTREPO}:v3"


pytestmark = pytest.mark.usefixtures("no_docker_login")


def _tag(registry: RunningRegistry, repo: str, tag: str) -> int:
    assert registry.creds is not None
    with registry.client(auth=registry.creds) as client:
        accept = "application/vnd.oci.image.index.v1+json"
        return client.head(f"/v2/{repo}/manifests/{tag}", headers={"Accept": accept}).status_code


def test_oci_promote_variables_are_ignored(
    basic_registry: RunningRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = f"{basic_registry.username}:{basic_registry.password}"
    monkeypatch.setenv("OCI_PROMOTE_DEST_CREDS", creds)
    monkeypatch.setenv("OCI_PROMOTE_DRY_RUN", "true")
    monkeypatch.setenv("OCI_PROMOTE_EXPECTED_DIGEST", "sha256:" + "0" * 64)
    with pytest.raises(AuthenticationError):  # the credentials in the environment were not used
        oci_promote.copy(SOURCE, [f"{basic_registry.host}/env/app"], retries=0)
    result = oci_promote.copy(SOURCE, [f"{basic_registry.host}/env/app"], dest_creds=creds)
    assert not result.dry_run and result.digest == V3  # neither dry run nor the expected digest
    assert _tag(basic_registry, "env/app", "v3") == 200


@pytest.mark.parametrize("misspelt", [{"expected": "sha256:" + "0" * 64}, {"dryrun": True}, {"job": 2}])
def test_an_unknown_option_is_a_type_error_before_any_request(
    registry: RunningRegistry, misspelt: dict[str, object]
) -> None:
    mark = registry.mark()
    with pytest.raises(TypeError):
        oci_promote.copy(SOURCE, [f"{registry.host}/typo/app"], **misspelt)  # type: ignore[arg-type]
    assert registry.requests_since(mark) == []


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"jobs": 0}, "jobs"),
        ({"jobs": "4"}, "jobs"),
        ({"timeout": -1}, "timeout"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"insecure_registries": "host:5000"}, "insecure_registries"),
        ({"dest_creds": "no-colon"}, "credentials"),
        ({"expected_digest": "nope"}, "nope"),
    ],
)
def test_a_bad_value_is_a_usage_error(
    registry: RunningRegistry, options: dict[str, object], needle: str
) -> None:
    mark = registry.mark()
    with pytest.raises(UsageError) as caught:
        oci_promote.copy(SOURCE, [f"{registry.host}/bad/app"], **options)  # type: ignore[arg-type]
    assert needle in str(caught.value)
    assert registry.requests_since(mark) == []


def test_a_string_of_destinations_is_refused(registry: RunningRegistry) -> None:
    with pytest.raises(UsageError, match="destinations must be a list"):
        oci_promote.copy(SOURCE, f"{registry.host}/one/app")
    assert registry.access_log() == []


def test_the_credential_provider_comes_after_explicit_credentials(basic_registry: RunningRegistry) -> None:
    asked: list[str] = []
    assert basic_registry.username is not None and basic_registry.password is not None
    good = Credential(basic_registry.username, Secret(basic_registry.password))

    def provider(host: str) -> Credential | None:
        asked.append(host)
        return good

    result = oci_promote.copy(SOURCE, [f"{basic_registry.host}/hook/app"], credential_provider=provider)
    assert result.digest == V3 and asked == [basic_registry.host]
    with pytest.raises(AuthenticationError):
        oci_promote.copy(
            SOURCE,
            [f"{basic_registry.host}/hook/other"],
            dest_creds="wrong:wrong",
            credential_provider=provider,
            retries=0,
        )
    assert asked == [basic_registry.host]


def test_diff_and_verify_are_library_calls(tmp_path: Path) -> None:
    """What `oci-promote diff` and `verify` print, a caller gets as values (layouts: no registry)."""
    old = build_image(tmp_path / "a", created="2024-01-01T00:00:00Z")
    new = build_image(tmp_path / "b", created="2025-01-01T00:00:00Z")
    a, b = f"oci:{tmp_path / 'a'}:v1", f"oci:{tmp_path / 'b'}:v1"
    comparison = oci_promote.diff(a, b)
    assert not comparison.identical and comparison.codes == {"config-differ"}
    assert (comparison.a.digest, comparison.b.digest) == (old, new)
    assert oci_promote.diff(a, a).identical
    outcomes = oci_promote.verify([a, b, a], old)
    assert [(o.reference, o.ok) for o in outcomes] == [(a, True), (b, False)]  # each reference once
    assert outcomes[1].digest == new and "cannot be read beside it" in (outcomes[1].note or "")
    again = anyio.run(partial(oci_promote.verify_async, [b], parse_digest(new)))
    assert [o.ok for o in again] == [True]
    with pytest.raises(UsageError, match="must be a list"):
        oci_promote.verify(a, old)
