"""Fan-out (issue 9): each blob is read from the source once and streamed to every destination.

Three real registries as destinations; the source registry's access log counts the
blob GETs, proxies break uploads mid-blob, and skopeo and crane read the results back.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import oci_promote
from oci_promote.errors import PromoteError
from testkit import quirks
from testkit.images import build_layout
from testkit.interop import ImageTree, digest_of, image_tree, layout_problems, registry_problems
from testkit.peers import PEERS
from testkit.proxy import Action, Forward, Headers, Proxy, RequestView, Reset
from testkit.registry import LogMark, RunningRegistry
from testkit.skopeo import inspect_raw
from tests.conftest import RegistryFactory

LAYER_SIZE = 256 * 1024
#: Enough retries to get past one broken upload, quickly.
QUICK = {"retries": 2, "retry_delay": 0.01, "retry_max_delay": 0.02}


@pytest.fixture
def image(tmp_path: Path, registry: RunningRegistry) -> ImageTree:
    """2 platforms x 2 random layers of 256 KiB, pushed to the source registry as app:v1."""
    layout = tmp_path / "layout"
    digest = build_layout(layout, "v1", ["amd64", "arm64"], 2, LAYER_SIZE)
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])
    return image_tree(layout, digest)


@pytest.fixture
def three(registry2: RunningRegistry, registry_factory: RegistryFactory) -> list[RunningRegistry]:
    return [registry2, registry_factory(), registry_factory()]


def source_blob_gets(registry: RunningRegistry, mark: LogMark) -> list[str]:
    return [
        e.path.rsplit("/", 1)[1]
        for e in registry.requests_since(mark)
        if e.method == "GET" and "/blobs/" in e.path and "/uploads/" not in e.path
    ]


def tagged(registry: RunningRegistry, repo: str) -> int:
    with registry.client() as client:
        return client.head(f"/v2/{repo}/manifests/v1").status_code


def blobs_held_are_whole(registry: RunningRegistry, repo: str, tree: ImageTree) -> list[str]:
    """Every blob of the image the registry holds must hash to its digest (absent is fine)."""
    wrong = []
    with registry.client() as client:
        for digest in tree.blobs:
            got = client.get(f"/v2/{repo}/blobs/{digest}")
            if got.status_code == 200 and digest_of(got.content) != digest:
                wrong.append(digest)
    return wrong


def large_upload(request: RequestView) -> bool:
    return (
        request.method in ("PUT", "PATCH")  # a blob over upload.STREAM_ABOVE goes as a PATCH
        and "/blobs/uploads/" in request.path
        and (request.content_length or 0) > 100_000
    )


@pytest.mark.peers  # crane reads the results back
def test_three_registries_get_each_blob_from_one_source_read(
    tmp_path: Path, registry: RunningRegistry, three: list[RunningRegistry], image: ImageTree
) -> None:
    mark = registry.mark()
    oci_promote.copy(f"{registry.host}/app:v1", [f"{r.host}/prod/app:v1" for r in three])
    gets = source_blob_gets(registry, mark)
    assert sorted(gets) == sorted(image.blobs)  # 3 x before: one read per destination
    for n, dest in enumerate(three):
        assert registry_problems(dest, "prod/app", "v1", image) == []
        assert inspect_raw(dest.ref("prod/app", "v1")) == image.manifests[image.top]
        pulled = tmp_path / f"crane-{n}"
        PEERS["crane"].pull_layout(dest.ref("prod/app", "v1"), pulled)
        assert layout_problems(pulled, image) == []


def test_a_destination_failing_mid_blob_moves_no_tag_and_corrupts_no_other(
    registry: RunningRegistry, three: list[RunningRegistry], image: ImageTree
) -> None:
    def break_large_uploads(request: RequestView) -> Action:
        return Reset(after_request_bytes=32 * 1024, label="fault") if large_upload(request) else Forward()

    first, second, failing = three
    with Proxy(failing.url, break_large_uploads) as proxy:
        dests = [f"{first.host}/prod/app:v1", f"{second.host}/prod/app:v1", f"{proxy.host}/prod/app:v1"]
        with pytest.raises(PromoteError) as caught:
            oci_promote.copy(f"{registry.host}/app:v1", dests, **QUICK)
        assert any(e.label == "fault" for e in proxy.exchanges())
    message = str(caught.value)
    assert f"destination {proxy.host}/prod/app:v1" in message and "no tag was moved" in message
    for dest in three:
        assert tagged(dest, "prod/app") == 404
        assert blobs_held_are_whole(dest, "prod/app", image) == []
    oci_promote.copy(f"{registry.host}/app:v1", [f"{r.host}/prod/app:v1" for r in three])
    assert all(registry_problems(r, "prod/app", "v1", image) == [] for r in three)


def test_an_upload_broken_once_replays_a_small_blob_without_reading_the_source_again(
    registry: RunningRegistry, three: list[RunningRegistry], image: ImageTree
) -> None:
    broken: list[str] = []
    lock = threading.Lock()

    def break_first_large_upload(request: RequestView) -> Action:
        with lock:
            if large_upload(request) and not broken:
                broken.append(request.path)
                return Reset(after_request_bytes=32 * 1024, label="fault")
        return Forward()

    first, second, flaky = three
    with Proxy(flaky.url, break_first_large_upload) as proxy:
        mark = registry.mark()
        dests = [f"{first.host}/prod/app:v1", f"{second.host}/prod/app:v1", f"{proxy.host}/prod/app:v1"]
        oci_promote.copy(f"{registry.host}/app:v1", dests, **QUICK)
    assert len(broken) == 1
    # the layers are under fanout.REPLAY_BYTES: the retry replays the kept blob (a bigger one
    # is read again for the retry alone: test_a_broken_upload_lets_go_of_the_shared_stream_at_once)
    assert len(source_blob_gets(registry, mark)) == len(image.blobs)
    assert all(registry_problems(r, "prod/app", "v1", image) == [] for r in three)


def test_a_destination_that_wants_chunks_gets_them_from_the_fan_out(
    registry: RunningRegistry, three: list[RunningRegistry], image: ImageTree
) -> None:
    """GHCR refuses a monolithic PUT: the upload asks for its body again and sends chunks."""
    first, second, ghcr_like = three
    with Proxy(ghcr_like.url, quirks.ghcr()) as proxy:
        dests = [f"{first.host}/prod/app:v1", f"{second.host}/prod/app:v1", f"{proxy.host}/prod/app:v1"]
        oci_promote.copy(f"{registry.host}/app:v1", dests, jobs=1)
        assert any(e.method == "PATCH" for e in proxy.exchanges())
    assert all(registry_problems(r, "prod/app", "v1", image) == [] for r in three)


def test_a_broken_upload_lets_go_of_the_shared_stream_at_once(
    tmp_path: Path, registry2: RunningRegistry
) -> None:
    """The others finish the blob while the broken upload waits to retry, not after its retry.

    The layer (32 MiB) is far larger than the buffers (ours and the sockets'): had the broken
    upload kept its place in the fan-out until its retry asked for a new body (the uploader
    holds the failed attempt's body while it pauses), the healthy one would wait for it.
    """
    layout = tmp_path / "layout"
    build_layout(layout, "v1", ["amd64"], 1, 32 * 1024 * 1024)
    events: dict[str, float] = {}
    lock = threading.Lock()

    def stamp(name: str) -> None:
        with lock:
            events.setdefault(name, time.monotonic())

    def healthy(request: RequestView) -> Action:
        def finished(status: int, headers: Headers) -> tuple[int, Headers]:
            stamp("healthy upload answered")
            return status, headers

        return Forward(rewrite_response=finished) if large_upload(request) else Forward()

    def broken_once(request: RequestView) -> Action:
        with lock:
            if large_upload(request) and "broke" in events:
                events.setdefault("broken upload retried", time.monotonic())
            if large_upload(request) and "broke" not in events:
                events["broke"] = time.monotonic()
                return Reset(after_request_bytes=32 * 1024, label="fault")
        return Forward()

    with Proxy(registry2.url, healthy) as good, Proxy(registry2.url, broken_once) as bad:
        dests = [f"{good.host}/good/app:v1", f"{bad.host}/bad/app:v1"]
        oci_promote.copy(f"oci:{layout}:v1", dests, retries=2, retry_delay=4.0, retry_max_delay=4.0)
    assert events["healthy upload answered"] < events["broken upload retried"], events
