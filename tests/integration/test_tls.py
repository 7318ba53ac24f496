"""TLS: verification on by default, a CA bundle for private registries, SSL_CERT_FILE honoured.

The registry serves TLS with a test CA (trustme) and Basic auth. Clients use
plain HTTP for loopback names, so the registry is reached by a non-loopback
name on its certificate, resolved to 127.0.0.1 inside this process only.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import oci_promote
from oci_promote.errors import TransportError
from tests.conftest import RegistryFactory
from tests.harness.registry import TLS_TEST_HOSTNAME, RunningRegistry
from tests.integration.test_cli import TESTREPO, V3


@pytest.fixture
def tls_registry(registry_factory: RegistryFactory) -> RunningRegistry:
    return registry_factory(tls=True, auth="htpasswd")


@pytest.fixture(autouse=True)
def resolve_test_hostname(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real: Callable[..., Any] = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host  # anyio passes IDNA bytes
        return real("127.0.0.1" if name == TLS_TEST_HOSTNAME else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield


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
