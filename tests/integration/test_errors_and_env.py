"""What the transport says when things go wrong, and what it takes from the environment.

Error lines name the reference as people write it and say what to do; proxies from
the environment never apply to loopback registries and are named when unreachable;
`-v` logs every request without upload state or tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import oci_promote
from oci_promote.errors import AuthenticationError, TransportError
from testkit import quirks
from testkit.proxy import Action, Forward, Proxy, RequestView
from testkit.registry import TLS_TEST_HOSTNAME, RunningRegistry, free_port
from tests.integration.test_cli import TESTREPO, V3, cli, seed
from tests.integration.test_tls import resolve_test_hostname  # noqa: F401  (autouse fixture)

MISSING = "sha256:" + "0" * 64


def test_a_missing_digest_is_named_with_an_at(registry: RunningRegistry) -> None:
    seed(registry)
    result = cli("digest", f"{registry.host}/src/app@{MISSING}")
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert f"src/app@{MISSING}" in line and f"src/app:{MISSING}" not in line and "not found" in line


def _read_only(request: RequestView) -> Action:
    """What distribution answers when it runs as a pull-through cache."""
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        return quirks.oci_error(405, "UNSUPPORTED", "The operation is unsupported.")
    return Forward()


def test_a_read_only_registry_says_so(registry: RunningRegistry) -> None:
    with Proxy(registry.url, _read_only) as cache:
        result = cli("copy", f"oci:{TESTREPO}:v3", f"{cache.host}/mirror/app")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = [x for x in result.stderr.splitlines() if x.startswith("oci-promote: error:")][-1]
    assert "HTTP 405" in line and "read-only" in line and "pull-through cache" in line


def test_a_401_says_whether_credentials_were_sent(basic_registry: RunningRegistry, tmp_path: Path) -> None:
    dest = [f"{basic_registry.host}/creds/app"]
    (tmp_path / "config.json").write_text("{}")  # no credentials anywhere
    with pytest.raises(AuthenticationError) as missing:
        oci_promote.copy(f"oci:{TESTREPO}:v3", dest, docker_config=tmp_path)
    assert missing.value.credentials_sent is False
    assert f"no credentials for {basic_registry.host}" in str(missing.value)
    with pytest.raises(AuthenticationError) as refused:
        oci_promote.copy(f"oci:{TESTREPO}:v3", dest, dest_creds=f"{basic_registry.username}:wrong")
    assert refused.value.credentials_sent is True
    assert f"{basic_registry.host} refused the credentials" in str(refused.value)


def test_a_401_from_a_token_service_says_whether_credentials_were_sent(
    token_registry: RunningRegistry,
) -> None:
    dest = [f"{token_registry.host}/creds/app"]
    with pytest.raises(AuthenticationError) as refused:
        oci_promote.copy(f"oci:{TESTREPO}:v3", dest, dest_creds=f"{token_registry.username}:wrong")
    assert refused.value.credentials_sent is True and "refused the credentials" in str(refused.value)


def test_verbose_logs_every_request_without_upload_state_or_tokens(
    token_registry: RunningRegistry,
) -> None:
    creds = f"{token_registry.username}:{token_registry.password}"
    result = cli(
        "copy",
        "-v",
        "--chunked",
        f"oci:{TESTREPO}:v3",
        f"{token_registry.host}/log/app",
        "--dest-creds",
        creds,
    )
    assert result.returncode == 0, result.stderr
    requests = [line for line in result.stderr.splitlines() if line.startswith("HTTP ")]
    assert any(line.startswith("HTTP PATCH ") for line in requests)  # upload sessions are logged
    assert any("/token" in line for line in requests)  # and so are token requests
    assert not re.search(r"_state=[^…&\s]", result.stderr)  # was: the whole `_state` token
    assert token_registry.password is not None
    assert "Bearer" not in result.stderr and token_registry.password not in result.stderr


@pytest.fixture
def dead_proxy() -> Iterator[str]:
    """A proxy URL with credentials on a port nobody listens on."""
    yield f"http://proxyuser:proxy-Secret-1@127.0.0.1:{free_port()}"


def test_the_environment_proxy_never_applies_to_loopback(registry: RunningRegistry, dead_proxy: str) -> None:
    env = {"HTTP_PROXY": dead_proxy, "HTTPS_PROXY": dead_proxy, "ALL_PROXY": dead_proxy}
    result = cli("copy", f"oci:{TESTREPO}:v3", f"{registry.host}/direct/app", env=env)
    assert result.returncode == 0, result.stderr  # was: every request sent to the dead proxy
    assert result.stdout.strip() == f"{registry.host}/direct/app@{V3}"


def test_an_unreachable_proxy_is_named_without_its_credentials(
    registry_factory: Callable[..., RunningRegistry], dead_proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = registry_factory(tls=True)
    port = reg.host.rsplit(":", 1)[1]
    monkeypatch.setenv("HTTPS_PROXY", dead_proxy)
    dest = [f"{TLS_TEST_HOSTNAME}:{port}/proxied/app"]
    with pytest.raises(TransportError) as caught:
        oci_promote.copy(f"oci:{TESTREPO}:v3", dest, ca_file=reg.ca_pem_path, retries=0)
    message = str(caught.value)
    proxy_port = dead_proxy.rsplit(":", 1)[1]
    assert f"cannot reach {TLS_TEST_HOSTNAME}:{port} through proxy http://127.0.0.1:{proxy_port}" in message
    assert "proxy-Secret-1" not in message and "proxyuser" not in message
    # NO_PROXY is honoured: the same copy goes direct
    monkeypatch.setenv("NO_PROXY", TLS_TEST_HOSTNAME)
    result = oci_promote.copy(f"oci:{TESTREPO}:v3", dest, ca_file=reg.ca_pem_path)
    assert result.digest == V3
