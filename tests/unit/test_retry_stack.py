"""The retry loop, the request log's redaction and the proxy choice, where no registry can show them."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from oci_promote.errors import NotFoundError, PromoteError, RegistryError, TransportError
from oci_promote.transport.client import loggable
from oci_promote.transport.errors import error_for, transport_error
from oci_promote.transport.proxies import proxy_for, shown
from oci_promote.transport.retry import Attempts, RetryPolicy, is_retryable

FAST = {"base_delay": 0.0, "max_delay": 0.0}


def test_an_error_a_loop_gave_up_on_is_never_retried_by_an_outer_loop() -> None:
    policy = RetryPolicy(attempts=5, **FAST)
    calls = {"inner": 0, "outer": 0}

    async def inner() -> None:
        calls["inner"] += 1
        raise RegistryError("busy", status=503)

    async def outer() -> None:
        calls["outer"] += 1
        await policy.run(inner, "inner")

    with pytest.raises(RegistryError) as caught:
        asyncio.run(policy.run(outer, "outer"))
    assert calls == {"inner": 5, "outer": 1}  # not 25
    assert caught.value.final and not is_retryable(caught.value)


def test_what_is_retried() -> None:
    assert is_retryable(RegistryError("x", status=503)) and is_retryable(TransportError("reset"))
    assert not is_retryable(RegistryError("x", status=400))
    assert not is_retryable(NotFoundError("x", status=404))
    assert not is_retryable(TransportError("bad certificate", retryable=False))


def test_attempts_can_be_shared_by_every_send_of_one_request() -> None:
    policy = RetryPolicy(attempts=3, **FAST)
    shared = policy.start("POST")
    sent = 0

    async def post() -> None:
        nonlocal sent
        sent += 1
        if sent in (1, 3, 4):
            raise RegistryError("busy", status=503)

    asyncio.run(policy.run(post, "POST", shared))  # fails once, then succeeds
    with pytest.raises(RegistryError):
        asyncio.run(policy.run(post, "POST", shared))  # one attempt left over, then it gives up
    assert sent == 4


def test_the_request_log_redacts_query_values() -> None:
    url = httpx.URL("http://r.example/v2/a/blobs/uploads/u1?_state=SECRET&digest=sha256:ab&token=T")
    line = loggable(url)
    assert "SECRET" not in line
    assert line == "http://r.example/v2/a/blobs/uploads/u1?_state=…&digest=sha256:ab&token=…"
    assert loggable(httpx.URL("https://r.example/v2/")) == "https://r.example/v2/"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://registry.example/v2/", "http://proxy:3128"),
        ("http://registry.example/v2/", "http://plainproxy:3128"),
        ("http://localhost:5000/v2/", None),
        ("https://127.0.0.1:5000/v2/", None),
        ("http://[::1]:5000/v2/", None),
        ("https://internal.corp/v2/", None),
        ("https://registry.internal.corp:5000/v2/", None),
    ],
)
def test_the_proxy_choice(url: str, expected: str | None) -> None:
    proxies = {"https": "http://proxy:3128", "http": "http://plainproxy:3128", "no": "internal.corp"}
    assert proxy_for(httpx.URL(url), proxies) == expected


def test_a_proxy_is_shown_without_credentials() -> None:
    assert shown("http://user:pa55@proxy.example:3128") == "http://proxy.example:3128"


def test_hints_for_faults_that_never_heal() -> None:
    request = httpx.Request("GET", "https://r.example:5000/v2/")
    not_tls = httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number", request=request)
    error = transport_error(not_tls, "a/b:c", "r.example:5000")
    assert isinstance(error, TransportError) and not error.retryable
    assert "does not speak TLS" in str(error) and "--plain-http r.example:5000" in str(error)
    untrusted = httpx.ConnectError(
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", request=request
    )
    error = transport_error(untrusted, "a/b:c", "r.example:5000")
    assert isinstance(error, TransportError) and not error.retryable and "--ca-file" in str(error)


def test_a_405_names_read_only_registries() -> None:
    request = httpx.Request("POST", "https://r.example/v2/a/blobs/uploads/")
    response = httpx.Response(
        405, request=request, json={"errors": [{"code": "UNSUPPORTED", "message": "no"}]}
    )
    message = str(error_for(response, "a@sha256:x", "r.example"))
    assert "HTTP 405: UNSUPPORTED: no" in message and "pull-through cache" in message


def _allowed(attempts: Attempts, failures: str) -> int:
    """How many of `failures` the attempts let be retried before giving up: each letter a
    failed attempt, L a 429, B a 503, C a cut that moved bytes."""
    errors = {
        "L": lambda: (RegistryError("later", status=429), False),
        "B": lambda: (RegistryError("busy", status=503), False),
        "C": lambda: (TransportError("cut short"), True),
    }

    async def go() -> int:
        for n, letter in enumerate(failures):
            error, moved = errors[letter]()
            try:
                await attempts.failed(error, moved=moved)
            except PromoteError:
                return n
        return len(failures)

    return asyncio.run(go())


def test_a_429_is_waited_out_up_to_retries_times_without_counting() -> None:
    policy = RetryPolicy(attempts=3, **FAST)
    assert _allowed(policy.start("op"), "LLBBB") == 4  # --retries 2: two 429s waited out, two retries
    assert _allowed(policy.start("op"), "LLLBB") == 4  # a third 429 counts like any fault
    assert _allowed(policy.start("op"), "BLBLB") == 4
    assert _allowed(RetryPolicy(attempts=1, **FAST).start("op"), "L") == 0  # --retries 0: none


def test_the_attempt_after_one_that_moved_bytes_is_the_first_of_a_fresh_count() -> None:
    policy = RetryPolicy(attempts=3, **FAST)
    assert _allowed(policy.start("op"), "CBBB") == 3  # --retries 2: two retries from the cut on
    assert _allowed(policy.start("op"), "BCBBCBBB") == 7
    assert policy.spent == 2 + 5  # the retries after a cut spent nothing of the budget
