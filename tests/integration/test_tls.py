"""TLS: verification on by default, a CA bundle for private registries, SSL_CERT_FILE honoured.

The registry serves TLS with a test CA (trustme) and Basic auth. Loopback names
get HTTPS when the port speaks TLS and plain HTTP otherwise, so most tests reach
the registry by a non-loopback name on its certificate (always HTTPS), resolved
to 127.0.0.1 inside this process only.
"""

from __future__ import annotations

import pytest

import oci_promote
from oci_promote.errors import AuthenticationError, PromoteError, TransportError
from testkit.proxy import Proxy
from testkit.registry import TLS_TEST_HOSTNAME, RunningRegistry
from tests.conftest import RegistryFactory
from tests.integration.test_cli import TESTREPO, V3, cli


@pytest.fixture
def tls_registry(registry_factory: RegistryFactory) -> RunningRegistry:
    return registry_factory(tls=True, auth="htpasswd")


@pytest.fixture(autouse=True)
def resolve_test_hostname(tls_test_hostname: str) -> None:
    """Every test here may reach a registry by TLS_TEST_HOSTNAME."""


def _dest(reg: RunningRegistry, repo: str) -> str:
    port = reg.host.rsplit(":", 1)[1]
    return f"{TLS_TEST_HOSTNAME}:{port}/{repo}:v3"


def _creds(reg: RunningRegistry) -> str:
    return f"{reg.username}:{reg.password}"


def test_ca_file_trusts_a_private_registry(tls_registry: RunningRegistry) -> None:
    assert tls_registry.ca_pem_path is not None
    result = oci_promote.copy(
        f"oci:{TESTREPO}:v3",
        [_dest(tls_registry, "tls/app")],
        ca_file=tls_registry.ca_pem_path,
        dest_creds=_creds(tls_registry),
    )
    assert result.digest == V3
    assert any(
        e.path.startswith("/v2/tls/app/manifests/") and e.method == "PUT" for e in tls_registry.access_log()
    )


def test_untrusted_certificate_is_a_clear_error_and_nothing_is_sent(tls_registry: RunningRegistry) -> None:
    with pytest.raises(TransportError) as caught:
        oci_promote.copy(
            f"oci:{TESTREPO}:v3", [_dest(tls_registry, "tls/app")], dest_creds=_creds(tls_registry), retries=0
        )
    message = str(caught.value)
    assert "certificate" in message and "--ca-file" in message
    assert tls_registry.password not in message
    assert tls_registry.access_log() == []


def test_ssl_cert_file_is_honoured(tls_registry: RunningRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    assert tls_registry.ca_pem_path is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_registry.ca_pem_path))
    result = oci_promote.copy(
        f"oci:{TESTREPO}:v3", [_dest(tls_registry, "env/app")], dest_creds=_creds(tls_registry)
    )
    assert result.destinations[0].pinned.endswith(f"/env/app@{V3}")


def _handshake_errors(reg: RunningRegistry) -> int:
    """TLS handshakes the registry saw fail (Go logs each one to stderr)."""
    return reg.log_path.read_text(errors="replace").count("TLS handshake error")


def test_a_tls_registry_on_loopback_is_spoken_to_in_https(tls_registry: RunningRegistry) -> None:
    """The port-forward / SSH-tunnel case: `127.0.0.1:PORT` with --ca-file (was: HTTP 400)."""
    assert tls_registry.ca_pem_path is not None
    result = oci_promote.copy(
        f"oci:{TESTREPO}:v3",
        [f"{tls_registry.host}/loop/app:v3"],
        ca_file=tls_registry.ca_pem_path,
        dest_creds=_creds(tls_registry),
    )
    assert result.digest == V3
    log = tls_registry.access_log()
    assert any(e.method == "PUT" and e.path == "/v2/loop/app/manifests/v3" for e in log)
    assert all(e.status != 400 for e in log)


def _handshakes(front: Proxy) -> int:
    """Connections that carried no HTTP request: TLS probes (a ClientHello is not HTTP, so the
    proxy answers 400 and records no exchange, as distribution's access log records nothing)."""
    return front.connections - len({e.connection for e in front.exchanges()})


def test_a_plain_loopback_registry_sees_one_handshake_per_client_and_no_extra_request(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    """Asking a plain-HTTP port for TLS first costs one handshake per client, never a request."""
    with Proxy(registry.url) as first, Proxy(registry2.url) as second:
        oci_promote.copy(f"oci:{TESTREPO}:v3", [f"{first.host}/plain/app:v3"])
        assert _handshakes(first) == 1
        oci_promote.copy(f"{first.host}/plain/app:v3", [f"{second.host}/plain/app"])
        assert (_handshakes(first), _handshakes(second)) == (2, 1)
        for front in (first, second):
            exchanges = front.exchanges()
            assert exchanges and all(e.path.startswith("/v2/") and e.status != 400 for e in exchanges)


def test_https_only_refuses_plain_http_at_once_with_a_hint(registry: RunningRegistry) -> None:
    with Proxy(registry.url) as front:
        with pytest.raises(TransportError) as caught:
            oci_promote.copy(
                f"oci:{TESTREPO}:v3", [f"{front.host}/forced/app"], https_only=[front.host], retries=4
            )
        message = str(caught.value)
        assert "does not speak TLS on this port" in message and f"--plain-http {front.host}" in message
        assert front.connections == 1  # never retried: it will not start speaking TLS
        assert front.exchanges() == []


def test_a_plain_registry_under_a_tls_name_gets_a_hint_and_no_retry(registry: RunningRegistry) -> None:
    """Was: '[SSL: WRONG_VERSION_NUMBER] wrong version number', five times over."""
    with Proxy(registry.url) as front:
        port = front.host.rsplit(":", 1)[1]
        with pytest.raises(TransportError, match="does not speak TLS on this port") as caught:
            oci_promote.copy(f"oci:{TESTREPO}:v3", [f"{TLS_TEST_HOSTNAME}:{port}/x/app"], retries=4)
        assert "--plain-http" in str(caught.value) and "--insecure-registry" in str(caught.value)
        assert front.connections == 1


def test_plain_http_can_be_forced(tls_registry: RunningRegistry, registry: RunningRegistry) -> None:
    result = oci_promote.copy(
        f"oci:{TESTREPO}:v3", [f"{registry.host}/forced/app"], plain_http=[registry.host]
    )
    assert result.digest == V3
    with pytest.raises(
        PromoteError, match="HTTP 400"
    ):  # Go: "Client sent an HTTP request to an HTTPS server"
        oci_promote.copy(
            f"oci:{TESTREPO}:v3",
            [f"{tls_registry.host}/forced/app"],
            plain_http=[tls_registry.host],
            dest_creds=_creds(tls_registry),
            retries=0,
        )


def test_an_untrusted_certificate_is_not_retried(tls_registry: RunningRegistry) -> None:
    with pytest.raises(TransportError, match="--ca-file"):
        oci_promote.copy(
            f"oci:{TESTREPO}:v3",
            [_dest(tls_registry, "tls/app")],
            dest_creds=_creds(tls_registry),
            retries=4,
            retry_delay=0.01,
        )
    assert _handshake_errors(tls_registry) == 1  # was 5: it never heals by itself


def test_an_https_registry_with_a_plain_http_token_realm_gets_no_credentials(
    registry_factory: RegistryFactory,
) -> None:
    reg = registry_factory(tls=True, auth="token")
    assert reg.token_server is not None and reg.token_server.realm.startswith("http://")
    with pytest.raises(AuthenticationError) as caught:
        oci_promote.copy(
            f"oci:{TESTREPO}:v3", [_dest(reg, "realm/app")], ca_file=reg.ca_pem_path, dest_creds=_creds(reg)
        )
    assert "plain HTTP" in str(caught.value) and "refusing to send credentials" in str(caught.value)
    assert reg.token_server.recorded() == []  # the password never went out unencrypted


def test_a_missing_ca_file_is_one_line_not_a_tuple() -> None:
    result = cli("digest", "--ca-file", "/nonexistent/ca.pem", "registry.example/a:b")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "oci-promote: error: cannot load CA certificates from /nonexistent/ca.pem: No such file or directory"
    )
