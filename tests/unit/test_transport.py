"""Scheme policy and retry arithmetic."""

from __future__ import annotations

import re
import ssl
import time
from email.utils import formatdate
from pathlib import Path

import pytest

from oci_promote.errors import UsageError
from oci_promote.transport.retry import RetryPolicy, parse_retry_after
from oci_promote.transport.scheme import scheme_plan
from oci_promote.transport.tls import DeferredTrustContext, tls_context

#: Loopback and named insecure registries get HTTPS when their port speaks TLS, else plain HTTP.
MAYBE_PLAIN = "https-or-http"


@pytest.mark.parametrize(
    ("registry", "insecure", "scheme"),
    [
        ("localhost:5000", (), MAYBE_PLAIN),
        ("127.0.0.1:5000", (), MAYBE_PLAIN),
        ("127.8.9.10", (), MAYBE_PLAIN),
        ("[::1]:5000", (), MAYBE_PLAIN),
        ("registry-1.docker.io", (), "https"),
        ("registry.example.com:5000", (), "https"),
        ("registry.example.com:5000", ("registry.example.com:5000",), MAYBE_PLAIN),
        ("registry.example.com:5000", ("registry.example.com",), MAYBE_PLAIN),
        ("registry.example.com:5000", ("registry.example.com:6000",), "https"),
        ("other.example.com", ("registry.example.com",), "https"),
        ("10.0.0.1:5000", (), "https"),  # private is not loopback
    ],
)
def test_plain_http_only_for_loopback_and_named_insecure(
    registry: str, insecure: tuple[str, ...], scheme: str
) -> None:
    assert scheme_plan(registry, insecure=insecure) == scheme


@pytest.mark.parametrize(
    ("registry", "plain", "https", "scheme"),
    [
        ("127.0.0.1:5000", ("127.0.0.1:5000",), (), "http"),
        ("registry.example.com:5000", ("registry.example.com",), (), "http"),
        ("localhost:5000", (), ("localhost:5000",), "https"),
        ("[::1]:5000", (), ("[::1]",), "https"),
        ("LOCALHOST:5000", (), ("localhost",), "https"),
        ("localhost:5000", (), ("localhost:6000",), MAYBE_PLAIN),
    ],
)
def test_the_scheme_can_be_forced_either_way(
    registry: str, plain: tuple[str, ...], https: tuple[str, ...], scheme: str
) -> None:
    assert scheme_plan(registry, plain_http=plain, https_only=https) == scheme


def test_retry_after_in_seconds_and_as_a_date() -> None:
    assert parse_retry_after("7") == 7.0
    in_ten = parse_retry_after(formatdate(time.time() + 10, usegmt=True))
    assert in_ten is not None and 8 <= in_ten <= 11
    assert parse_retry_after(formatdate(time.time() - 100, usegmt=True)) == 0.0
    assert parse_retry_after("soon") is None


def test_delay_honours_retry_after_up_to_the_cap_and_backs_off_otherwise() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, max_retry_after=5.0)
    assert policy.delay(0, "3") == 3.0
    assert policy.delay(0, "3600") == 5.0
    for attempt, ceiling in ((0, 1.0), (1, 2.0), (2, 4.0), (5, 8.0)):
        assert ceiling / 2 <= policy.delay(attempt) <= ceiling  # jittered, never above the cap


def test_attempts_and_the_per_copy_budget_bound_retries() -> None:
    policy = RetryPolicy(attempts=3, budget=4)
    assert [policy.may_retry(a) for a in (0, 1, 2)] == [True, True, False]
    assert [policy.may_retry(a) for a in (0, 1)] == [True, True]
    assert policy.may_retry(0) is False  # the copy's budget of 4 is spent


def test_default_trust_is_verifying_and_loads_its_bundle_only_when_needed() -> None:
    context = DeferredTrustContext.create()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0  # nothing loaded for plain-HTTP work
    context.load_trust()
    context.load_trust()  # once only
    assert context.cert_store_stats()["x509_ca"] > 10


def test_an_unreadable_ca_file_is_a_usage_error(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    for path in (tmp_path / "missing.pem", not_pem):
        with pytest.raises(UsageError, match=f"cannot load CA certificates from {re.escape(str(path))}"):
            tls_context(str(path))


def test_an_unreadable_environment_bundle_fails_at_the_handshake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    context = tls_context(None)  # no error yet: plain-HTTP registries never need it
    with pytest.raises(ssl.SSLError, match=r"cannot load CA certificates from .*missing\.pem"):
        context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="registry.example")
