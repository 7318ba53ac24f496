"""Faults between us and real registries: every copy ends whole or fails cleanly, never half-tagged.

Proxies in front of real `docker-registry` processes inject, from seeded
schedules, 5xx, 429 with Retry-After, connection resets before an answer and in
the middle of downloads and uploads, stalls past the client timeout and
truncated bodies.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import oci_promote
from oci_promote.errors import PromoteError, RegistryError, TransportError
from testkit import quirks
from testkit.images import build_layout
from testkit.proxy import Action, Exchange, Forward, Proxy, RequestView, Truncate
from testkit.registry import RunningRegistry
from tests.conftest import RegistryFactory
from tests.integration.test_cli import cli

ACCEPT = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
CAMPAIGN_RUNS = int(os.environ.get("OCI_PROMOTE_CAMPAIGN_RUNS", "220"))
#: Fast clocks for the campaign: faults cost milliseconds, not seconds.
FAST = {
    "timeout": 0.25,
    "retries": 4,
    "retry_delay": 0.005,
    "retry_max_delay": 0.02,
    "retry_after_cap": 0.05,
}
#: The statuses quirks.faults injects: each says "later", so only retries running out may end
#: a copy on one.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@pytest.fixture
def small_image(tmp_path: Path) -> tuple[Path, str]:
    """An index of 2 platforms x 2 random gzip layers of 96 KiB: small, but big enough to cut."""
    layout = tmp_path / "layout"
    return layout, build_layout(layout, "v1", ["amd64", "arm64"], 2, 96 * 1024)


def _proxy(registry: RunningRegistry) -> Iterator[Proxy]:
    with Proxy(registry.url, name=f"proxy-{registry.host}") as proxy:
        yield proxy


@pytest.fixture
def src_proxy(registry: RunningRegistry) -> Iterator[Proxy]:
    yield from _proxy(registry)


@pytest.fixture
def dst_proxy(registry2: RunningRegistry) -> Iterator[Proxy]:
    yield from _proxy(registry2)


def tag_digest(registry: RunningRegistry, repo: str, tag: str) -> str | None:
    """What the tag resolves to, asked of the registry directly (no proxy)."""
    with registry.client() as client:
        response = client.head(f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT})
    return response.headers["docker-content-digest"] if response.status_code == 200 else None


def assert_whole(registry: RunningRegistry, repo: str, layout: Path, digest: str) -> None:
    """Every manifest and blob of the image is at the destination, byte for byte by digest."""
    blobs = layout / "blobs" / "sha256"
    with registry.client() as client:
        pending = [digest]
        while pending:
            manifest_digest = pending.pop()
            got = client.get(
                f"/v2/{repo}/manifests/{manifest_digest}",
                headers={"Accept": ACCEPT},
            )
            assert got.status_code == 200 and got.content == (blobs / manifest_digest[7:]).read_bytes()
            body = json.loads(got.content)
            pending += [m["digest"] for m in body.get("manifests", [])]
            for blob in [body["config"], *body["layers"]] if "config" in body else []:
                head = client.head(f"/v2/{repo}/blobs/{blob['digest']}")
                assert head.status_code == 200 and int(head.headers["content-length"]) == blob["size"]


def _operation(exchange: Exchange) -> tuple[str, str]:
    """The retried operation an exchange belongs to: a blob upload restarts in new sessions."""
    repository, uploads, _ = exchange.path.partition("/blobs/uploads/")
    return ("upload", repository) if uploads else (exchange.method, exchange.path)


def _why_not_retries_exhausted(error: PromoteError, exchanges: list[Exchange]) -> str | None:
    """None when `error` is what the README calls a clean failure: a transient fault (an
    injected status, a reset, a stall past the timeout, a cut body) that one operation met on
    every one of its attempts; else what it is instead."""
    transient = (isinstance(error, TransportError) and error.retryable) or (
        isinstance(error, RegistryError) and error.status in TRANSIENT_STATUSES
    )
    if not transient:
        return f"{type(error).__name__} is no transient fault"
    faults = Counter(_operation(e) for e in exchanges if e.label not in ("", "fault:none"))
    most = max(faults.values(), default=0)
    if not error.final or most < FAST["retries"] + 1:
        return f"given up after {most} fault(s) on one operation, not {FAST['retries'] + 1}"
    return None


@pytest.mark.slow
def test_fault_campaign(
    small_image: tuple[Path, str],
    registry: RunningRegistry,
    registry2: RunningRegistry,
    src_proxy: Proxy,
    dst_proxy: Proxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    layout, digest = small_image
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])
    figures: Counter[str] = Counter()
    faults_seen: Counter[str] = Counter()
    unexpected: list[str] = []
    started = time.monotonic()
    for seed in range(CAMPAIGN_RUNS):
        src_proxy.set_handler(quirks.faults(2 * seed, stall_seconds=1.0, max_cut_bytes=96 * 1024))
        dst_proxy.set_handler(quirks.faults(2 * seed + 1, stall_seconds=1.0, max_cut_bytes=96 * 1024))
        repo = f"campaign/run{seed}"
        try:
            result = oci_promote.copy(f"{src_proxy.host}/app:v1", [f"{dst_proxy.host}/{repo}:v1"], **FAST)
        except PromoteError as e:
            message = str(e)
            why = _why_not_retries_exhausted(e, src_proxy.exchanges() + dst_proxy.exchanges())
            if "\n" in message or not message or tag_digest(registry2, repo, "v1") is not None:
                unexpected.append(f"seed {seed}: unclean failure {message!r}")
            elif why is not None:
                unexpected.append(f"seed {seed}: not a retries-exhausted failure ({why}): {message!r}")
            else:
                figures["clean failures"] += 1
        except Exception as e:  # anything else is a bug: count it, and show it
            unexpected.append(f"seed {seed}: {type(e).__name__}: {e}")
        else:
            if result.digest != digest or tag_digest(registry2, repo, "v1") != digest:
                unexpected.append(f"seed {seed}: copied, but the tag does not give {digest}")
            else:
                assert_whole(registry2, repo, layout, digest)
                figures["successes"] += 1
        for proxy in (src_proxy, dst_proxy):
            faults_seen.update(
                e.label.removeprefix("fault:") for e in proxy.exchanges() if e.label not in ("", "fault:none")
            )
            proxy.clear()
    figures["anything else"] = len(unexpected)
    summary = (
        f"fault campaign: {CAMPAIGN_RUNS} runs, {figures['successes']} successes, "
        f"{figures['clean failures']} clean failures, {figures['anything else']} anything else; "
        f"{sum(faults_seen.values())} faults injected "
        f"({', '.join(f'{kind} {n}' for kind, n in sorted(faults_seen.items()))}); "
        f"{time.monotonic() - started:.0f} s"
    )
    with capsys.disabled():
        print(f"\n{summary}")
    assert not unexpected, "\n".join(unexpected[:10])
    assert sum(faults_seen.values()) > CAMPAIGN_RUNS, "the schedules injected too few faults to mean much"
    assert figures["successes"] >= 0.9 * CAMPAIGN_RUNS, summary


def test_failed_destination_moves_no_tag_anywhere(
    small_image: tuple[Path, str],
    registry: RunningRegistry,
    registry2: RunningRegistry,
    dst_proxy: Proxy,
) -> None:
    layout, _ = small_image

    # The second destination takes every blob but no manifest; its sibling must not keep a
    # tag either, because tags only move once every destination holds the whole image.
    def refuse_manifests(request: RequestView) -> Action:
        if request.method == "PUT" and "/manifests/" in request.path:
            return quirks.oci_error(500, "UNKNOWN", "storage backend failed")
        return Forward()

    dst_proxy.set_handler(refuse_manifests)
    with pytest.raises(PromoteError) as caught:
        oci_promote.copy(
            f"oci:{layout}:v1",
            [f"{registry.host}/a/app", f"{dst_proxy.host}/b/app"],
            retries=1,
            retry_delay=0.01,
        )
    message = str(caught.value)
    assert f"destination {dst_proxy.host}/b/app:v1" in message and "no tag was moved" in message
    assert (caught.value.destination, caught.value.tags_moved) == (f"{dst_proxy.host}/b/app:v1", ())
    assert tag_digest(registry, "a/app", "v1") is None
    assert tag_digest(registry2, "b/app", "v1") is None


def test_retry_after_is_honoured(
    small_image: tuple[Path, str], registry: RunningRegistry, src_proxy: Proxy, registry2: RunningRegistry
) -> None:
    layout, digest = small_image
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])
    answered: list[float] = []

    def throttle_once(request: RequestView) -> Action:
        answered.append(time.monotonic())
        if len(answered) == 1:
            return quirks.oci_error(429, "TOOMANYREQUESTS", "slow down", headers={"Retry-After": "1"})
        return Forward()

    src_proxy.set_handler(throttle_once)
    result = oci_promote.copy(f"{src_proxy.host}/app:v1", [f"{registry2.host}/app:v1"], retry_delay=0.001)
    assert result.digest == digest
    assert answered[1] - answered[0] >= 0.95


def test_token_outlived_by_a_slow_upload_is_renewed(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    """2-second tokens, strictly expired by the registry; throttled uploads take several seconds."""
    layout = tmp_path / "bigger"
    digest = build_layout(layout, "v1", ["amd64"], 3, 256 * 1024)
    registry = registry_factory(auth="token", token_ttl_seconds=2, strict_token_expiry=True)
    assert registry.token_server is not None
    with Proxy(registry.url, quirks.slow(250 * 1024)) as proxy:
        started = time.monotonic()
        result = oci_promote.copy(
            f"oci:{layout}:v1",
            [f"{proxy.host}/slow/app"],
            jobs=1,
            dest_creds=f"{registry.username}:{registry.password}",
        )
        elapsed = time.monotonic() - started
    assert result.digest == digest and elapsed > 3, elapsed
    assert len(registry.token_server.recorded()) >= 2  # renewed, not reused past expiry
    assert tag_digest_with_token(registry, "slow/app", "v1") == digest


def test_token_that_expires_early_is_renewed_on_401(
    registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    """The token server says 300 s but the registry rejects tokens after 2 s: 401s must renew."""
    layout = tmp_path / "bigger"
    digest = build_layout(layout, "v1", ["amd64"], 3, 256 * 1024)
    registry = registry_factory(
        auth="token", token_ttl_seconds=2, token_advertised_ttl_seconds=300, strict_token_expiry=True
    )
    assert registry.token_server is not None
    with Proxy(registry.url, quirks.slow(250 * 1024)) as proxy:
        result = oci_promote.copy(
            f"oci:{layout}:v1",
            [f"{proxy.host}/early/app"],
            jobs=1,
            retry_delay=0.01,
            dest_creds=f"{registry.username}:{registry.password}",
        )
        unauthorized = [e for e in proxy.exchanges() if e.status == 401]
    assert result.digest == digest
    assert unauthorized, "the registry never rejected a lapsed token: the test proves nothing"
    assert len(registry.token_server.recorded()) >= 2
    assert tag_digest_with_token(registry, "early/app", "v1") == digest


def tag_digest_with_token(registry: RunningRegistry, repo: str, tag: str) -> str | None:
    assert registry.token_server is not None
    token = registry.token_server.issue_token(
        "checker", [{"type": "repository", "name": repo, "actions": ["pull"]}]
    )
    with httpx.Client(base_url=registry.url, headers={"Authorization": f"Bearer {token}"}) as client:
        response = client.head(f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT})
    return response.headers.get("docker-content-digest") if response.status_code == 200 else None


#: Fast backoff for the CLI, so five attempts cost milliseconds.
FAST_ENV = {"OCI_PROMOTE_RETRY_DELAY": "0.001", "OCI_PROMOTE_RETRY_MAX_DELAY": "0.002"}


def _always_503(method: str, path_part: str) -> Callable[[RequestView], Action]:
    def handler(request: RequestView) -> Action:
        if request.method == method and path_part in request.path:
            return quirks.oci_error(503, "UNAVAILABLE", "always down")
        return Forward()

    return handler


def _sent(proxy: Proxy, method: str, path_part: str) -> Counter[str]:
    """How often each request (method, path and query) was sent."""
    return Counter(
        f"{e.path}?{e.query}" for e in proxy.exchanges() if e.method == method and path_part in e.path
    )


@pytest.mark.parametrize(
    ("side", "method", "path_part"),
    [
        ("source", "GET", "/manifests/"),  # was sent 25 times: retrying(with_retries(...))
        ("source", "GET", "/blobs/"),
        ("destination", "HEAD", "/blobs/"),
        ("destination", "POST", "/blobs/uploads/"),  # was sent 25 times: a retried upload's own retries
        ("destination", "PUT", "/manifests/"),
    ],
)
def test_a_request_that_always_fails_is_sent_at_most_retries_plus_one_times(
    small_image: tuple[Path, str],
    registry: RunningRegistry,
    registry2: RunningRegistry,
    src_proxy: Proxy,
    dst_proxy: Proxy,
    tmp_path: Path,
    side: str,
    method: str,
    path_part: str,
) -> None:
    layout, _ = small_image
    # Another image in the destination repository, so the copy asks which blobs it holds.
    build_layout(tmp_path / "other", "v0", ["amd64"], 1, 1024)
    oci_promote.copy(f"oci:{tmp_path / 'other'}:v0", [f"{registry2.host}/bounded/app:v0"])
    if side == "source":
        oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])
        source, proxy = f"{src_proxy.host}/app:v1", src_proxy
    else:
        source, proxy = f"oci:{layout}:v1", dst_proxy
    proxy.set_handler(_always_503(method, path_part))
    # One blob at a time: concurrent uploads of several blobs all POST the same URL.
    args = ("--retries", "4", "--jobs", "1")
    result = cli("copy", *args, source, f"{dst_proxy.host}/bounded/app", env=FAST_ENV)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("oci-promote: error:")]
    assert len(errors) == 1 and "HTTP 503" in errors[0], result.stderr
    sent = _sent(proxy, method, path_part)
    assert sent and max(sent.values()) == 5, sent  # --retries 4: five attempts, never more


def _script(method: str, path_part: str, actions: list[Action]) -> Callable[[RequestView], Action]:
    """Answer the first len(actions) requests matching (method, path_part) with `actions`, in
    order; everything else goes through."""
    left = list(actions)

    def handler(request: RequestView) -> Action:
        if request.method == method and path_part in request.path and left:
            return left.pop(0)
        return Forward()

    return handler


def _busy(status: int) -> Action:
    if status == 429:
        return quirks.oci_error(429, "TOOMANYREQUESTS", "later", headers={"Retry-After": "0"})
    return quirks.oci_error(status, "UNAVAILABLE", "busy")


def test_a_429_is_waited_out_without_costing_an_attempt(
    small_image: tuple[Path, str], registry: RunningRegistry, registry2: RunningRegistry, src_proxy: Proxy
) -> None:
    """Four 429s and four 503s on one request: with --retries 4 the 429s ("later") are waited
    out and the four 503s are the four retries."""
    layout, digest = small_image
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])
    src_proxy.set_handler(_script("GET", "/manifests/v1", [_busy(s) for s in (429, 503) * 4]))
    result = oci_promote.copy(f"{src_proxy.host}/app:v1", [f"{registry2.host}/app:v1"], **FAST)
    assert result.digest == digest
    assert _sent(src_proxy, "GET", "/manifests/v1") == Counter({"/v2/app/manifests/v1?": 9})


def test_a_request_always_answered_429_is_sent_at_most_twice_retries_plus_one_times(
    small_image: tuple[Path, str], registry: RunningRegistry, registry2: RunningRegistry, src_proxy: Proxy
) -> None:
    layout, _ = small_image
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])
    src_proxy.set_handler(_script("GET", "/manifests/v1", [_busy(429)] * 100))
    with pytest.raises(RegistryError) as caught:
        oci_promote.copy(f"{src_proxy.host}/app:v1", [f"{registry2.host}/app:v1"], **FAST)
    assert caught.value.status == 429 and caught.value.final
    # --retries 4: four 429s waited out, then five attempts
    assert _sent(src_proxy, "GET", "/manifests/v1") == Counter({"/v2/app/manifests/v1?": 9})


def test_a_download_that_moved_bytes_gets_all_its_attempts_again(
    small_image: tuple[Path, str], registry: RunningRegistry, registry2: RunningRegistry, src_proxy: Proxy
) -> None:
    """A GET cut after 1000 bytes, then four 503s on the resumed GET: --retries 4 allows four
    failed retries from byte 1000 on (the cut GET moved bytes, so its retry is not counted)."""
    layout, digest = small_image
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])
    layer = json.loads((layout / "blobs" / "sha256" / _first_manifest(layout)).read_bytes())["layers"][0]
    path = f"/blobs/{layer['digest']}"
    src_proxy.set_handler(_script("GET", path, [Truncate(1000), *[_busy(503)] * 4]))
    result = oci_promote.copy(f"{src_proxy.host}/app:v1", [f"{registry2.host}/app:v1"], **FAST)
    assert result.digest == digest
    ranges = [e.request_headers.get("range") for e in src_proxy.exchanges() if path in e.path]
    assert ranges == [None, *["bytes=1000-"] * 5]


def _first_manifest(layout: Path) -> str:
    """The hex digest of the first platform manifest of the layout's index."""
    blobs = layout / "blobs" / "sha256"
    index = json.loads((layout / "index.json").read_bytes())["manifests"][0]["digest"]
    return str(json.loads((blobs / index[7:]).read_bytes())["manifests"][0]["digest"])[7:]
