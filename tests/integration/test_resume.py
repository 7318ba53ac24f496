"""Resume instead of restart, against real registries through the fault proxy.

A broken source download continues with `Range: bytes=N-` (only a 206 starting at N
is taken; anything else starts the blob again), a broken streamed upload asks its
session how much it holds and sends the rest, and an attempt that moved bytes does
not use up the retries: a link that drops every connection after N bytes still
gets a blob several times N through.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import oci_promote
from oci_promote.transport import upload
from testkit import quirks
from testkit.images import build_layout
from testkit.olareg import OlaregRegistry
from testkit.proxy import Action, Forward, Proxy, RecordingServer, RequestView, Reset, Respond
from testkit.registry import RunningRegistry
from tests.conftest import RegistryFactory

MiB = 1024 * 1024
#: Each blob GET or upload PATCH is cut after this many body bytes, in the "bad link" tests.
CUT = 1 * MiB
#: Only 3 attempts per request: a blob that needs 5 or more connections gets through only
#: if attempts that moved bytes are not counted.
FEW_RETRIES = {"retries": 2, "retry_delay": 0.001, "retry_max_delay": 0.002}


def _layer(layout: Path) -> tuple[str, int]:
    """The digest and size of the biggest blob (the layer) of a one-platform layout."""
    blobs = sorted((layout / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    return f"sha256:{blobs[-1].name}", blobs[-1].stat().st_size


@pytest.fixture
def big_image(tmp_path: Path) -> tuple[Path, str]:
    """One platform, one random gzip layer of 5 MiB (five times CUT)."""
    layout = tmp_path / "layout"
    return layout, build_layout(layout, "v1", ["amd64"], 1, 5 * MiB)


@pytest.fixture
def streamed_uploads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blobs over 1 MiB go as one resumable PATCH (the product's threshold is larger)."""
    monkeypatch.setattr(upload, "STREAM_ABOVE", 1 * MiB)


def _is_layer_get(request: RequestView, layer: str) -> bool:
    return request.method == "GET" and request.path.endswith(f"/blobs/{layer}")


def test_a_link_that_drops_every_download_after_n_bytes_still_delivers_the_blob(
    big_image: tuple[Path, str], registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    layout, digest = big_image
    layer, size = _layer(layout)
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])

    def drop_after_cut(request: RequestView) -> Action:
        start = int(request.headers.get("range", "bytes=0-")[6:-1])
        if _is_layer_get(request, layer) and size - start > CUT:
            return Reset(after_response_bytes=CUT)
        return Forward()  # a body shorter than CUT goes through, as on a real link

    with Proxy(registry.url, drop_after_cut) as proxy:
        result = oci_promote.copy(f"{proxy.host}/app:v1", [f"{registry2.host}/app"], **FEW_RETRIES)
        gets = [e for e in proxy.exchanges() if e.method == "GET" and e.path.endswith(layer)]
    assert result.digest == digest
    assert len(gets) > 3  # more connections than attempts allowed
    starts = [int(e.request_headers.get("range", "bytes=0-")[6:-1]) for e in gets]
    for before, after, previous in zip(starts, starts[1:], gets, strict=False):
        assert before < after <= before + previous.response_bytes  # on from where it broke
    # read again: only what each reset threw away in flight, never a piece already delivered
    # (on a loaded machine the socket buffers can hold most of a 1 MiB piece; a fresh
    # clone's CI run measured 0.58 MiB a reset on average, another 0.3)
    assert sum(e.response_bytes for e in gets) - size < len(gets) * CUT


def test_a_server_that_ignores_range_has_the_blob_read_again_from_the_start(
    big_image: tuple[Path, str], registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    layout, digest = big_image
    layer, size = _layer(layout)
    data = (layout / "blobs" / "sha256" / layer[7:]).read_bytes()
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])
    answers: list[int] = []

    def cut_then_ignore_range(request: RequestView) -> Action:
        if not _is_layer_get(request, layer):
            return Forward()
        answers.append(len(answers))
        if len(answers) == 1:
            return Reset(after_response_bytes=2 * MiB)
        return Respond(200, {"Content-Type": "application/octet-stream"}, data)  # Range ignored

    with Proxy(registry.url, cut_then_ignore_range) as proxy:
        result = oci_promote.copy(f"{proxy.host}/app:v1", [f"{registry2.host}/app"], retry_delay=0.001)
        gets = [e for e in proxy.exchanges() if e.method == "GET" and e.path.endswith(layer)]
    assert result.digest == digest
    assert [e.status for e in gets] == [200, 200] and "range" in gets[1].request_headers
    assert gets[1].response_bytes == size


def test_a_206_at_the_wrong_offset_starts_the_blob_again(
    big_image: tuple[Path, str], registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    layout, digest = big_image
    layer, size = _layer(layout)
    data = (layout / "blobs" / "sha256" / layer[7:]).read_bytes()
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])
    seen: list[str] = []

    def cut_then_resume_at_zero(request: RequestView) -> Action:
        if not _is_layer_get(request, layer):
            return Forward()
        seen.append(request.headers.get("range", ""))
        if len(seen) == 1:
            return Reset(after_response_bytes=2 * MiB)
        if "range" in request.headers:  # a 206, but from byte 0: not a continuation
            headers = {"Content-Range": f"bytes 0-{size - 1}/{size}"}
            return Respond(206, headers, data)
        return Forward()

    with Proxy(registry.url, cut_then_resume_at_zero) as proxy:
        result = oci_promote.copy(f"{proxy.host}/app:v1", [f"{registry2.host}/app"], retry_delay=0.001)
    assert result.digest == digest
    assert seen[0] == "" and seen[1].startswith("bytes=") and seen[2] == ""  # asked again, whole


def test_a_redirected_download_resumes_at_the_blob_store_without_credentials(
    big_image: tuple[Path, str], registry_factory: RegistryFactory, registry2: RunningRegistry
) -> None:
    layout, digest = big_image
    layer, size = _layer(layout)
    private = registry_factory(auth="htpasswd")
    creds = f"{private.username}:{private.password}"
    oci_promote.copy(f"oci:{layout}:v1", [f"{private.host}/app:v1"], dest_creds=creds)
    source = quirks.registry_blob_source(private.url, auth=(private.username, private.password))
    cut: list[str] = []

    def cut_the_layer_once(request: RequestView) -> Action:
        if request.method == "GET" and request.path.endswith(layer) and not cut:
            cut.append(request.path)
            return Reset(after_response_bytes=2 * MiB)
        return Forward()

    with (
        RecordingServer(source, reject_authorization=True) as store,
        Proxy(store.url, cut_the_layer_once) as cdn,
        Proxy(private.url, quirks.redirect_blobs(cdn, require_authorization=True)) as front,  # type: ignore[arg-type]
    ):
        result = oci_promote.copy(
            f"{front.host}/app:v1", [f"{registry2.host}/app"], src_creds=creds, retry_delay=0.001
        )
        at_cdn = [e for e in cdn.exchanges() if e.path.endswith(layer)]
    assert result.digest == digest
    assert [e.action for e in at_cdn] == ["reset", "forward"]
    resumed = at_cdn[1]
    start = int(resumed.request_headers["range"].removeprefix("bytes=").removesuffix("-"))
    assert 0 < start <= at_cdn[0].response_bytes  # on from where it broke
    assert resumed.status == 206 and "authorization" not in resumed.request_headers
    assert resumed.response_bytes == size - start


def _cut_first_patch(reset: Reset) -> Callable[[RequestView], Action]:
    """A proxy handler that breaks the first PATCH as `reset` says and forwards the rest."""
    cut: list[int] = []

    def handler(request: RequestView) -> Action:
        if request.method == "PATCH" and not cut:
            cut.append(1)
            return reset
        return Forward()

    return handler


def _upload_exchanges(proxy: Proxy) -> Callable[[str], list[int]]:
    """Request body bytes of the proxy's upload requests by method."""

    def sent(method: str) -> list[int]:
        return [e.request_bytes for e in proxy.exchanges() if e.method == method and "/uploads/" in e.path]

    return sent


@pytest.mark.usefixtures("streamed_uploads")
def test_a_broken_upload_resumes_where_the_session_stopped(
    big_image: tuple[Path, str], olareg_registry: OlaregRegistry
) -> None:
    layout, digest = big_image
    layer, size = _layer(layout)
    cut_the_first_patch = _cut_first_patch(Reset(after_request_bytes=3 * MiB))

    olareg_registry.set_handler(cut_the_first_patch)
    result = oci_promote.copy(f"oci:{layout}:v1", [f"{olareg_registry.host}/app"], retry_delay=0.001)
    sent = _upload_exchanges(olareg_registry.proxy)
    assert result.digest == digest
    assert len(sent("POST")) == 2  # the config's session and the layer's: no new session
    assert len(sent("GET")) >= 2 and len(sent("PATCH")) == 2  # asked till it stayed put, the rest
    assert sum(sent("PATCH")) - size <= upload.RESEND_BUDGET  # at most what was in flight again
    with olareg_registry.client() as client:
        assert client.head(f"/v2/app/blobs/{layer}").headers["content-length"] == str(size)


@pytest.mark.usefixtures("streamed_uploads")
def test_a_link_that_drops_every_upload_after_n_bytes_still_delivers_the_blob(
    big_image: tuple[Path, str], olareg_registry: OlaregRegistry
) -> None:
    layout, digest = big_image
    _, size = _layer(layout)

    def drop_after_cut(request: RequestView) -> Action:
        if request.method == "PATCH" and (request.content_length or 0) > CUT:
            return Reset(after_request_bytes=CUT)
        return Forward()  # a body shorter than CUT goes through, as on a real link

    olareg_registry.set_handler(drop_after_cut)
    result = oci_promote.copy(f"oci:{layout}:v1", [f"{olareg_registry.host}/app"], **FEW_RETRIES)
    sent = _upload_exchanges(olareg_registry.proxy)
    assert result.digest == digest
    assert len(sent("PATCH")) > 3  # more connections than attempts allowed
    assert sum(sent("PATCH")) <= 1.1 * size + CUT


@pytest.mark.usefixtures("streamed_uploads")
def test_a_session_lost_with_its_connection_starts_the_upload_over(
    big_image: tuple[Path, str], registry2: RunningRegistry
) -> None:
    """distribution 2.8 drops a session whose PATCH broke off: a new session, a new source read."""
    layout, digest = big_image
    cut_the_first_patch = _cut_first_patch(Reset(after_request_bytes=3 * MiB))

    with Proxy(registry2.url, cut_the_first_patch) as proxy:
        result = oci_promote.copy(f"oci:{layout}:v1", [f"{proxy.host}/app"], retry_delay=0.001)
        statuses = [(e.method, e.status) for e in proxy.exchanges() if "/uploads/" in e.path]
    assert result.digest == digest
    assert ("GET", 404) in statuses  # the session said it is gone
    assert [m for m, _ in statuses].count("POST") == 3  # config, layer, the layer again
    layer, size = _layer(layout)
    with registry2.client() as client:
        assert client.head(f"/v2/app/blobs/{layer}").headers["content-length"] == str(size)


@pytest.mark.usefixtures("streamed_uploads")
def test_a_commit_that_broke_off_is_sent_again_without_a_new_session(
    big_image: tuple[Path, str], olareg_registry: OlaregRegistry
) -> None:
    layout, digest = big_image
    layer, _ = _layer(layout)
    cut: list[int] = []

    def reset_the_first_layer_commit(request: RequestView) -> Action:
        commit = request.method == "PUT" and request.params.get("digest") == layer
        if commit and not cut:
            cut.append(1)
            return Reset()  # before any answer: the client cannot know whether it was stored
        return Forward()

    olareg_registry.set_handler(reset_the_first_layer_commit)
    result = oci_promote.copy(f"oci:{layout}:v1", [f"{olareg_registry.host}/app"], retry_delay=0.001)
    sent = _upload_exchanges(olareg_registry.proxy)
    assert result.digest == digest and cut
    assert len(sent("POST")) == 2 and len(sent("PATCH")) == 1  # the body was not sent again


def _patches(proxy: Proxy) -> list[tuple[int, int, int, int | None]]:
    """(first byte by Content-Range, Content-Length, body bytes the registry got, status) of
    each upload PATCH, in order."""
    return [
        (
            int(e.request_headers.get("content-range", "0-0").split("-")[0]),
            int(e.request_headers.get("content-length", "0")),
            e.request_bytes,
            e.status,
        )
        for e in proxy.exchanges()
        if e.method == "PATCH" and "/uploads/" in e.path
    ]


def _acknowledged_rest(patches: list[tuple[int, int, int, int | None]], size: int) -> None:
    """After the first PATCH broke, each one is an acknowledged chunk (at most its share)
    starting where the session stood: at the end of what the registry got before, broken or
    not, so no byte is skipped or stored twice. (One answered 416 was refused at its first
    byte: olareg was still writing the broken one when it said its offset.)"""
    assert patches[0][3] is None  # the first one broke
    assert all(length <= upload.RESEND_BUDGET for _, length, _, _ in patches[1:])
    stood = 0
    for first, _, got, status in patches:
        if status != 416:
            assert first == stood
            stood += got
    assert stood == size


@pytest.mark.usefixtures("streamed_uploads")
def test_a_session_behind_the_kept_bytes_resumes_by_reading_the_source_again(
    big_image: tuple[Path, str], olareg_registry: OlaregRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link took 2.5 MiB more than it delivered, over the 1 MiB kept: the same session
    goes on from what it holds, with the missing bytes read from the source again."""
    monkeypatch.setattr(upload, "RESEND_BUDGET", 1 * MiB)
    layout, digest = big_image
    layer, size = _layer(layout)
    cut_the_first_patch_with_bytes_in_flight = _cut_first_patch(
        Reset(after_request_bytes=2 * MiB, lost_in_flight=5 * MiB // 2)
    )

    olareg_registry.set_handler(cut_the_first_patch_with_bytes_in_flight)
    result = oci_promote.copy(f"oci:{layout}:v1", [f"{olareg_registry.host}/app"], retry_delay=0.001)
    sent = _upload_exchanges(olareg_registry.proxy)
    assert result.digest == digest
    assert len(sent("POST")) == 2  # the config's session and the layer's: not started over
    patches = _patches(olareg_registry.proxy)
    assert patches[0][2] == 2 * MiB and patches[1][0] == 2 * MiB  # on from what the session holds
    _acknowledged_rest(patches, size)
    with olareg_registry.client() as client:
        assert client.head(f"/v2/app/blobs/{layer}").headers["content-length"] == str(size)


@pytest.mark.usefixtures("streamed_uploads")
def test_a_source_read_again_for_a_resumed_upload_is_still_digest_checked(
    big_image: tuple[Path, str], olareg_registry: OlaregRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes read again only to reach the session's offset are not sent, but they are
    hashed: a source that changed under the copy fails it before any commit."""
    monkeypatch.setattr(upload, "RESEND_BUDGET", 1 * MiB)
    layout, _ = big_image
    layer, _ = _layer(layout)
    blob = layout / "blobs" / "sha256" / layer[7:]
    cut: list[int] = []

    def cut_and_change_the_source(request: RequestView) -> Action:
        if request.method == "PATCH" and not cut:
            cut.append(1)
            with blob.open("r+b") as f:  # in place: the first read, past it, goes on
                first = f.read(1)
                f.seek(0)
                f.write(bytes([first[0] ^ 0xFF]))  # a byte the session holds: only its hash can tell
            return Reset(after_request_bytes=2 * MiB, lost_in_flight=5 * MiB // 2)
        return Forward()

    olareg_registry.set_handler(cut_and_change_the_source)
    with pytest.raises(oci_promote.errors.PromoteError, match=r"(?i)digest"):
        oci_promote.copy(f"oci:{layout}:v1", [f"{olareg_registry.host}/app"], retry_delay=0.001)
    commits = [e for e in olareg_registry.proxy.exchanges() if e.method == "PUT" and layer in e.query]
    assert cut and commits == []
    with olareg_registry.client() as client:
        assert client.head(f"/v2/app/blobs/{layer}").status_code == 404


@pytest.mark.usefixtures("streamed_uploads")
def test_after_a_break_the_rest_goes_in_acknowledged_patches_resumed_from_memory(
    big_image: tuple[Path, str],
    registry: RunningRegistry,
    olareg_registry: OlaregRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the link broke, each PATCH is held until its 202, so a later break inside one
    resumes from memory and sends again only what was lost. (The first break is past what
    was kept, so the source is read a second time for it, and only for it.)"""
    monkeypatch.setattr(upload, "RESEND_BUDGET", 1 * MiB)
    layout, digest = big_image
    layer, size = _layer(layout)
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])
    patches: list[int] = []

    def break_the_first_and_third_patch(request: RequestView) -> Action:
        if request.method != "PATCH":
            return Forward()
        patches.append(1)
        if len(patches) == 1:
            return Reset(after_request_bytes=2 * MiB, lost_in_flight=5 * MiB // 2)
        if len(patches) == 3:
            return Reset(after_request_bytes=MiB // 2)
        return Forward()

    olareg_registry.set_handler(break_the_first_and_third_patch)
    with Proxy(registry.url) as source:
        result = oci_promote.copy(f"{source.host}/app:v1", [f"{olareg_registry.host}/app"], retry_delay=0.001)
        layer_gets = [e for e in source.exchanges() if e.method == "GET" and e.path.endswith(layer)]
    assert result.digest == digest
    assert len(layer_gets) == 2  # read again for the first break, not for the later one
    assert len(_upload_exchanges(olareg_registry.proxy)("POST")) == 2
    patches = _patches(olareg_registry.proxy)
    assert patches[2][2:] == (MiB // 2, None)  # the acknowledged chunk that broke
    _acknowledged_rest(patches, size)


@pytest.mark.usefixtures("streamed_uploads")
def test_a_resume_waits_until_the_session_stops_growing(
    big_image: tuple[Path, str], olareg_registry: OlaregRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1 MiB of the broken PATCH reaches olareg 10 ms after the client saw the reset, as what a
    server's socket had buffered: resuming from the offset it said first would be refused
    (416) or land in between; the resume goes on from where the session settled. (The
    offset is asked again 0.5 s apart here, so the late bytes land in time on a loaded
    machine; the product asks every 50 ms.)"""
    monkeypatch.setattr(upload, "SETTLE_SECONDS", 0.5)
    layout, digest = big_image
    layer, size = _layer(layout)
    cut_the_first_patch_with_late_bytes = _cut_first_patch(
        Reset(after_request_bytes=2 * MiB, late_bytes=MiB, late_seconds=0.01)
    )

    olareg_registry.set_handler(cut_the_first_patch_with_late_bytes)
    result = oci_promote.copy(f"oci:{layout}:v1", [f"{olareg_registry.host}/app"], retry_delay=0.001)
    assert result.digest == digest
    assert len(_upload_exchanges(olareg_registry.proxy)("POST")) == 2  # never started over
    patches = _patches(olareg_registry.proxy)
    assert [p[2:] for p in patches] == [(3 * MiB, None), (size - 3 * MiB, 202)]  # no 416
    assert patches[1][0] == 3 * MiB
    with olareg_registry.client() as client:
        assert client.head(f"/v2/app/blobs/{layer}").headers["content-length"] == str(size)
