"""The fault-injecting proxy and the registry quirks, proven with plain httpx against a real
registry (not the project's code), so failures in other tests can be trusted to be theirs."""

from __future__ import annotations

import concurrent.futures
import email.utils
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from testkit import quirks
from testkit.proxy import (
    Action,
    Forward,
    Handler,
    Proxy,
    RecordingServer,
    RequestView,
    Reset,
    Respond,
    Stall,
    Truncate,
)
from testkit.registry import RunningRegistry
from tests.conftest import RegistryFactory

MiB = 1024 * 1024
ProxyFactory = Callable[..., Proxy]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _client(base: Proxy | RunningRegistry | RecordingServer, **kwargs: Any) -> httpx.Client:
    kwargs.setdefault("timeout", 5)
    return httpx.Client(base_url=base.url, trust_env=False, **kwargs)


def _push_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    """POST + monolithic PUT; returns the digest."""
    start = client.post(f"/v2/{repo}/blobs/uploads/")
    assert start.status_code == 202, start.text
    url = httpx.URL(start.headers["Location"]).copy_merge_params({"digest": _digest(data)})
    put = client.put(url, content=data)
    assert put.status_code == 201, put.text
    return _digest(data)


def _only(predicate: Callable[[RequestView], bool], action: Action) -> Handler:
    return lambda request: action if predicate(request) else Forward()


def _is_blob_get(request: RequestView) -> bool:
    return request.method == "GET" and quirks.BLOB.match(request.path) is not None


@pytest.fixture
def proxies() -> Iterator[ProxyFactory]:
    """Start proxies in front of a registry: ``proxies(registry, handler, **kwargs)``."""
    started: list[Proxy] = []

    def start(upstream: RunningRegistry, handler: Handler | None = None, **kwargs: Any) -> Proxy:
        proxy = Proxy(upstream.url, handler, **kwargs).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


# -- plain forwarding ----------------------------------------------------------------------


def test_upload_and_download_8mib_through_proxy(registry: RunningRegistry, proxies: ProxyFactory) -> None:
    proxy = proxies(registry)
    data = _blob(8 * MiB)
    with _client(proxy) as client:
        start = client.post("/v2/fwd/blob/blobs/uploads/")
        assert start.status_code == 202
        assert start.headers["Location"].startswith(f"{proxy.url}/v2/fwd/blob/blobs/uploads/")
        url = httpx.URL(start.headers["Location"]).copy_merge_params({"digest": _digest(data)})
        put = client.put(url, content=data)
        assert put.status_code == 201, put.text
        assert put.headers["Location"] == f"{proxy.url}/v2/fwd/blob/blobs/{_digest(data)}"
        assert put.headers["Docker-Content-Digest"] == _digest(data)
        get = client.get(f"/v2/fwd/blob/blobs/{_digest(data)}")
    assert get.status_code == 200
    assert get.content == data

    post, put_ex, get_ex = proxy.exchanges()
    assert [(e.method, e.status, e.action) for e in (post, put_ex, get_ex)] == [
        ("POST", 202, "forward"),
        ("PUT", 201, "forward"),
        ("GET", 200, "forward"),
    ]
    assert put_ex.request_bytes == get_ex.response_bytes == 8 * MiB
    assert put_ex.request_headers["host"] == proxy.host
    assert len({post.connection, put_ex.connection, get_ex.connection}) == 1  # kept alive
    with _client(registry) as direct:
        assert direct.get(f"/v2/fwd/blob/blobs/{_digest(data)}").content == data


def test_chunked_request_body_is_streamed_to_registry(
    registry: RunningRegistry, proxies: ProxyFactory
) -> None:
    proxy = proxies(registry)
    data = _blob(8 * MiB + 123)

    def pieces() -> Iterator[bytes]:  # a generator makes httpx send Transfer-Encoding: chunked
        for offset in range(0, len(data), 300_000):
            yield data[offset : offset + 300_000]

    with _client(proxy) as client:
        start = client.post("/v2/fwd/chunked/blobs/uploads/")
        patch = client.patch(start.headers["Location"], content=pieces())
        assert patch.status_code == 202, patch.text
        assert patch.headers["Range"] == f"0-{len(data) - 1}"
        assert patch.headers["Location"].startswith(proxy.url)
        url = httpx.URL(patch.headers["Location"]).copy_merge_params({"digest": _digest(data)})
        assert client.put(url).status_code == 201
    patch_ex = proxy.exchanges()[1]
    assert patch_ex.request_headers["transfer-encoding"] == "chunked"
    assert patch_ex.request_bytes == len(data)
    with _client(registry) as direct:
        assert direct.get(f"/v2/fwd/chunked/blobs/{_digest(data)}").content == data


def test_concurrent_connections_keep_alive(registry: RunningRegistry, proxies: ProxyFactory) -> None:
    proxy = proxies(registry)
    data = _blob(512 * 1024)
    with _client(registry) as direct:
        digest = _push_blob(direct, "fwd/many", data)

    def fetch(_worker: int) -> bool:
        with _client(proxy) as client:
            return all(client.get(f"/v2/fwd/many/blobs/{digest}").content == data for _ in range(4))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(pool.map(fetch, range(8)))
    exchanges = proxy.exchanges()
    assert len(exchanges) == 32
    assert len({e.connection for e in exchanges}) == 8  # one kept-alive connection per client
    assert sorted(e.index for e in exchanges) == list(range(32))


def test_tls_upstream_locations_point_at_plain_http_proxy(
    registry_factory: RegistryFactory, proxies: ProxyFactory
) -> None:
    registry = registry_factory(tls=True)
    proxy = proxies(registry, upstream_cafile=registry.ca_pem_path)
    with _client(proxy) as client:
        start = client.post("/v2/fwd/tls/blobs/uploads/")
        assert start.status_code == 202
        assert start.headers["Location"].startswith(f"{proxy.url}/v2/fwd/tls/blobs/uploads/")
        assert _push_blob(client, "fwd/tls", b"over tls") == _digest(b"over tls")


# -- actions -------------------------------------------------------------------------------


def test_respond_answers_without_contacting_registry(
    registry: RunningRegistry, proxies: ProxyFactory
) -> None:
    proxy = proxies(registry, lambda _request: Respond(503, {"Retry-After": "0"}, b"down"))
    mark = registry.mark()
    with _client(proxy) as client:
        ping = client.get("/v2/")
        upload = client.put("/v2/x/blobs/uploads/u?digest=sha256:00", content=_blob(8 * MiB))
        again = client.get("/v2/")
    assert (ping.status_code, ping.headers["Retry-After"], ping.content) == (503, "0", b"down")
    assert upload.status_code == again.status_code == 503
    assert registry.requests_since(mark) == []
    exchanges = proxy.exchanges()
    assert [e.action for e in exchanges] == ["respond"] * 3
    assert exchanges[1].request_bytes == 8 * MiB  # drained, so the connection stays usable
    assert len({e.connection for e in exchanges}) == 1


def test_reset_before_answering(registry: RunningRegistry, proxies: ProxyFactory) -> None:
    proxy = proxies(registry, _only(lambda r: r.path == "/v2/", Reset()))
    with _client(proxy) as client, pytest.raises(httpx.TransportError):
        client.get("/v2/")
    assert proxy.exchanges()[0].action == "reset"


def test_reset_mid_download(registry: RunningRegistry, proxies: ProxyFactory) -> None:
    data = _blob(4 * MiB)
    with _client(registry) as direct:
        digest = _push_blob(direct, "act/download", data)
    proxy = proxies(registry, _only(_is_blob_get, Reset(after_response_bytes=1 * MiB)))
    with _client(proxy) as client:
        with pytest.raises(httpx.TransportError):
            client.get(f"/v2/act/download/blobs/{digest}")
        assert client.get("/v2/").status_code == 200  # a new connection works
    reset = proxy.exchanges()[0]
    assert (reset.action, reset.status, reset.response_bytes) == ("reset", 200, 1 * MiB)


def test_reset_mid_upload_breaks_the_upload(registry: RunningRegistry, proxies: ProxyFactory) -> None:
    data = _blob(8 * MiB)
    proxy = proxies(registry, _only(lambda r: r.method == "PUT", Reset(after_request_bytes=1 * MiB)))
    with _client(proxy) as client:
        start = client.post("/v2/act/upload/blobs/uploads/")
        url = httpx.URL(start.headers["Location"]).copy_merge_params({"digest": _digest(data)})
        with pytest.raises(httpx.TransportError):
            client.put(url, content=data)
    put = proxy.exchanges()[1]
    assert (put.action, put.status, put.request_bytes) == ("reset", None, 1 * MiB)
    with _client(registry) as direct:
        assert direct.head(f"/v2/act/upload/blobs/{_digest(data)}").status_code == 404


def test_truncate_keeps_content_length_and_cuts_body(
    registry: RunningRegistry, proxies: ProxyFactory
) -> None:
    data = _blob(100_000)
    with _client(registry) as direct:
        digest = _push_blob(direct, "act/truncate", data)
    proxy = proxies(registry, _only(_is_blob_get, Truncate(1000)))
    with _client(proxy) as client, client.stream("GET", f"/v2/act/truncate/blobs/{digest}") as response:
        assert response.status_code == 200
        assert response.headers["Content-Length"] == str(len(data))
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
    assert proxy.exchanges()[0].response_bytes == 1000


def test_stall_triggers_client_timeout(registry: RunningRegistry, proxies: ProxyFactory) -> None:
    proxy = proxies(registry, lambda _request: Stall(30))
    with _client(proxy, timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
        client.get("/v2/")
    started = time.monotonic()
    proxy.stop()  # must not wait for the stall to end
    assert time.monotonic() - started < 1
    assert proxy.exchanges()[0].action == "stall"


def test_forward_rewrites_and_throttles(registry: RunningRegistry, proxies: ProxyFactory) -> None:
    def rewrite(status: int, headers: list[tuple[str, str]]) -> tuple[int, list[tuple[str, str]]]:
        return 299, [*headers, ("X-Injected", "yes")]

    proxy = proxies(registry, lambda _request: Forward(rewrite, response_bytes_per_s=400_000))
    with _client(proxy) as client:
        started = time.monotonic()
        response = client.get("/v2/_catalog")
        # Tiny body: the rewrite shows, and the throttle only paces bodies.
        assert (response.status_code, response.headers["X-Injected"]) == (299, "yes")
        assert time.monotonic() - started < 0.5
        assert response.json() == {"repositories": []}


# -- quirks --------------------------------------------------------------------------------


def test_ghcr_refuses_monolithic_put_and_big_patch(registry: RunningRegistry, proxies: ProxyFactory) -> None:
    proxy = proxies(registry, quirks.ghcr())
    data = _blob(1 * MiB + 512 * 1024)
    with _client(proxy) as client:
        start = client.post("/v2/quirk/ghcr/blobs/uploads/")
        location = start.headers["Location"]
        monolithic = client.put(
            httpx.URL(location).copy_merge_params({"digest": _digest(b"small")}), content=b"small"
        )
        assert monolithic.status_code == 416
        assert monolithic.json()["errors"][0]["code"] == "REQUESTED_RANGE_NOT_SATISFIABLE"

        too_big = client.patch(location, content=_blob(4 * MiB + 1))
        assert too_big.status_code == 416
        assert "4.00MiB" in too_big.json()["errors"][0]["message"]

        patch = client.patch(location, content=data[: 1 * MiB])
        assert patch.status_code == 202, patch.text
        url = httpx.URL(patch.headers["Location"]).copy_merge_params({"digest": _digest(data)})
        final = client.put(url, content=data[1 * MiB :])  # a last chunk after a PATCH is fine
        assert final.status_code == 201, final.text
    assert [e.label for e in proxy.exchanges()] == ["", "ghcr:monolithic", "ghcr:body-over-limit", "", ""]
    with _client(registry) as direct:
        assert direct.get(f"/v2/quirk/ghcr/blobs/{_digest(data)}").content == data


def test_ecr_patch_201_and_no_content_digest(registry: RunningRegistry, proxies: ProxyFactory) -> None:
    proxy = proxies(registry, quirks.ecr())
    layer, config = _blob(300_000), b"{}"
    with _client(proxy) as client:
        start = client.post("/v2/quirk/ecr/blobs/uploads/")
        patch = client.patch(start.headers["Location"], content=layer)
        assert patch.status_code == 201
        url = httpx.URL(patch.headers["Location"]).copy_merge_params({"digest": _digest(layer)})
        assert client.put(url).status_code == 201
        _push_blob(client, "quirk/ecr", config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": _digest(config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": _digest(layer),
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        media = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        assert client.put("/v2/quirk/ecr/manifests/v1", content=manifest, headers=media).status_code == 201
        accept = {"Accept": media["Content-Type"]}
        assert client.get("/v2/quirk/ecr/manifests/v1", headers=accept).content == manifest
        assert client.head("/v2/quirk/ecr/manifests/v1", headers=accept).status_code == 200
        assert client.get(f"/v2/quirk/ecr/blobs/{_digest(layer)}").content == layer
        assert client.head(f"/v2/quirk/ecr/blobs/{_digest(layer)}").status_code == 200

    exchanges = proxy.exchanges()
    assert all("docker-content-digest" not in e.response_headers for e in exchanges)
    assert [e.status for e in exchanges if e.method == "PATCH"] == [201]
    with _client(registry) as direct:  # the registry itself does send it
        head = direct.head("/v2/quirk/ecr/manifests/v1", headers=accept)
        assert head.headers["Docker-Content-Digest"] == _digest(manifest)


def test_dockerhub_429_carries_retry_after(registry: RunningRegistry, proxies: ProxyFactory) -> None:
    proxy = proxies(registry, quirks.dockerhub(1.0))
    with _client(proxy) as client:
        limited = client.get("/v2/")
        proxy.set_handler(quirks.dockerhub(1.0, retry_after="date"))
        dated = client.get("/v2/")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.headers["RateLimit-Remaining"] == "0;w=21600"
    assert limited.headers["RateLimit-Limit"] == "100;w=21600"
    assert limited.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    when = email.utils.parsedate_to_datetime(dated.headers["Retry-After"])
    assert 0 <= when.timestamp() - time.time() <= 2


def test_dockerhub_rate_is_seeded(registry: RunningRegistry, proxies: ProxyFactory) -> None:
    def statuses(seed: int) -> list[int]:
        proxy = proxies(registry, quirks.dockerhub(0.5), seed=seed)
        with _client(proxy) as client:
            return [client.get("/v2/").status_code for _ in range(20)]

    first = statuses(seed=3)
    assert first == statuses(seed=3)
    assert set(first) == {200, 429}
    assert first != statuses(seed=4)


def test_redirect_blobs_to_recording_cdn(registry: RunningRegistry, proxies: ProxyFactory) -> None:
    data = _blob(2 * MiB)
    with _client(registry) as direct:
        digest = _push_blob(direct, "quirk/cdn", data)
    source = quirks.registry_blob_source(registry.url)
    with RecordingServer(source, reject_authorization=True) as cdn:
        proxy = proxies(registry, quirks.redirect_blobs(cdn))
        mark = registry.mark()
        secret = {"Authorization": "Bearer registry-secret"}
        with _client(proxy, headers=secret) as client:
            redirect = client.get(f"/v2/quirk/cdn/blobs/{digest}")
            assert redirect.status_code == 307
            assert redirect.headers["Location"] == f"{cdn.url}/blob/{digest}?repo=quirk%2Fcdn"
            followed = client.get(f"/v2/quirk/cdn/blobs/{digest}", follow_redirects=True)
            assert followed.status_code == 200
            assert followed.content == data
        with _client(cdn) as direct_cdn:
            ranged = direct_cdn.get(f"/blob/{digest}?repo=quirk/cdn", headers={"Range": "bytes=10-"})
            assert (ranged.status_code, ranged.content) == (206, data[10:])
            # The recorder sees an Authorization header when one is sent (and refuses it).
            assert direct_cdn.get(f"/blob/{digest}?repo=quirk/cdn", headers=secret).status_code == 400

        recorded = cdn.requests()
        assert [r.method for r in recorded] == ["GET", "GET", "GET"]
        assert "authorization" not in recorded[0].headers  # httpx dropped it across origins
        assert recorded[0].params == {"repo": "quirk/cdn"}
        assert recorded[2].headers["authorization"] == "Bearer registry-secret"
    # The proxy answered both blob GETs itself; the CDN's own fetches are harness traffic.
    assert [e.action for e in proxy.exchanges()] == ["redirect", "redirect"]
    assert registry.requests_since(mark) == []


def test_slow_throttles_upload_body(registry: RunningRegistry, proxies: ProxyFactory) -> None:
    proxy = proxies(registry, quirks.slow(400_000))
    data = _blob(200_000)
    with _client(proxy) as client:
        start = client.post("/v2/quirk/slow/blobs/uploads/")
        url = httpx.URL(start.headers["Location"]).copy_merge_params({"digest": _digest(data)})
        started = time.monotonic()
        assert client.put(url, content=data).status_code == 201
        elapsed = time.monotonic() - started
        fast_started = time.monotonic()
        assert client.get(f"/v2/quirk/slow/blobs/{_digest(data)}").content == data
        fast = time.monotonic() - fast_started
    assert 0.45 <= elapsed < 1.5
    assert fast < 0.2  # downloads are not throttled unless asked


# -- seeded faults -------------------------------------------------------------------------


def _views(count: int) -> list[RequestView]:
    """A varied synthetic request stream: pings, manifests, blob GETs, PATCHes and PUTs."""
    rng = random.Random(0)
    views = []
    for index in range(count):
        digest = _digest(str(index % 7).encode())
        method, path, query, headers = random.Random(index).choice(
            [
                ("GET", "/v2/", "", {}),
                ("GET", "/v2/a/manifests/v1", "", {}),
                ("GET", f"/v2/a/blobs/{digest}", "", {}),
                ("PATCH", "/v2/a/blobs/uploads/u-1", "_state=x", {"content-length": "5000"}),
                ("PUT", "/v2/a/blobs/uploads/u-2", f"digest={digest}", {"content-length": "5000"}),
            ]
        )
        views.append(RequestView(method, path, query, headers, index, rng))
    return views


def _decisions(schedule: quirks.FaultSchedule, views: list[RequestView]) -> list[str]:
    return [repr(schedule(view)) for view in views]


def test_faults_same_seed_same_decisions() -> None:
    views = _views(300)
    first = _decisions(quirks.faults(11), views)
    assert first == _decisions(quirks.faults(11), views)
    assert first != _decisions(quirks.faults(12), views)
    labels = {decision.split("label='")[1].split("'")[0] for decision in first}
    assert {"fault:none", "fault:reset_download", "fault:reset_upload", "fault:truncate"} <= labels

    # The upload session id is not part of the key: the same PUT in another session, same fault.
    put_a = RequestView("PUT", "/v2/a/blobs/uploads/aaa", "digest=sha256:1&_state=q", {}, 0, random.Random())
    put_b = RequestView("PUT", "/v2/a/blobs/uploads/bbb", "digest=sha256:1&_state=z", {}, 9, random.Random())
    schedule = quirks.faults(11)
    assert [repr(schedule.decide(put_a, n)) for n in range(50)] == [
        repr(schedule.decide(put_b, n)) for n in range(50)
    ]


def test_faults_only_hit_eligible_requests(registry: RunningRegistry, proxies: ProxyFactory) -> None:
    data = _blob(300_000)
    with _client(registry) as direct:
        digest = _push_blob(direct, "fault/blob", data)
    proxy = proxies(registry, quirks.faults(5, {"reset_download": 1.0}))
    with _client(proxy) as client:
        assert client.get("/v2/").status_code == 200  # not a blob GET: forwarded
        with pytest.raises(httpx.TransportError):
            client.get(f"/v2/fault/blob/blobs/{digest}")
    ping, blob = proxy.exchanges()
    assert (ping.label, blob.label, blob.action) == ("fault:none", "fault:reset_download", "reset")
    assert 0 < blob.response_bytes < len(data)

    proxy.set_handler(quirks.faults(5, {"503": 1.0}))
    with _client(proxy) as client:
        assert client.get("/v2/").status_code == 503
