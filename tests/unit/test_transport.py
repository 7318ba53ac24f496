"""Scheme policy and retry arithmetic."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from oci_promote.transport import RetryPolicy, parse_retry_after, scheme_for


@pytest.mark.parametrize(
    ("registry", "insecure", "scheme"),
    [
        ("localhost:5000", (), "http"),
        ("127.0.0.1:5000", (), "http"),
        ("127.8.9.10", (), "http"),
        ("[::1]:5000", (), "http"),
        ("registry-1.docker.io", (), "https"),
        ("registry.example.com:5000", (), "https"),
        ("registry.example.com:5000", ("registry.example.com:5000",), "http"),
        ("registry.example.com:5000", ("registry.example.com",), "http"),
        ("registry.example.com:5000", ("registry.example.com:6000",), "https"),
        ("other.example.com", ("registry.example.com",), "https"),
        ("10.0.0.1:5000", (), "https"),  # private is not loopback
    ],
)
def test_plain_http_only_for_loopback_and_named_insecure(
    registry: str, insecure: tuple[str, ...], scheme: str
) -> None:
    assert scheme_for(registry, insecure) == scheme


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
