"""Transfer details proven against a real registry: foreign layers, resumed downloads, relative Locations."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

import oci_promote
from oci_promote.transport.client import READ_SIZE, use_large_reads
from oci_promote.transport.tls import _tls_context, tls_context
from testkit.images import OCI_MANIFEST, build_layout
from testkit.proxy import Action, Forward, Headers, Proxy, RequestView, Reset
from testkit.registry import RunningRegistry

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"


def _blob(layout: Path, data: bytes, media_type: str, **extra: object) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"mediaType": media_type, "size": len(data), "digest": f"sha256:{digest}", **extra}


def _foreign_layer_image(layout: Path) -> tuple[str, str]:
    """A Docker schema 2 image whose second layer is foreign (it lives at a URL): (digest, foreign)."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    config = _blob(
        layout, b'{"architecture":"amd64","os":"windows"}', "application/vnd.docker.container.image.v1+json"
    )
    layer = _blob(
        layout, b"\x1f\x8b" + b"ordinary layer", "application/vnd.docker.image.rootfs.diff.tar.gzip"
    )
    foreign = _blob(
        layout, b"\x1f\x8b" + b"base layer from elsewhere", FOREIGN, urls=["https://mcr.example/blobs/base"]
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": config,
        "layers": [foreign, layer],
    }
    top = _blob(layout, json.dumps(manifest, indent=3).encode(), DOCKER_MANIFEST)
    entry = {**top, "annotations": {"org.opencontainers.image.ref.name": "v1"}}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return str(top["digest"]), str(foreign["digest"])


def _has_blob(registry: RunningRegistry, repo: str, digest: str) -> bool:
    with registry.client() as client:
        return client.head(f"/v2/{repo}/blobs/{digest}").status_code == 200


def test_foreign_layers_are_left_out_unless_asked_for(tmp_path: Path, registry: RunningRegistry) -> None:
    digest, foreign = _foreign_layer_image(tmp_path / "layout")
    default = oci_promote.copy(f"oci:{tmp_path / 'layout'}:v1", [f"{registry.host}/win/app"])
    assert default.digest == digest
    assert default.destinations[0].blobs_copied == 2 and not _has_blob(registry, "win/app", foreign)
    included = oci_promote.copy(
        f"oci:{tmp_path / 'layout'}:v1", [f"{registry.host}/win/full"], include_foreign_layers=True
    )
    assert included.destinations[0].blobs_copied == 3 and _has_blob(registry, "win/full", foreign)


def test_dropped_download_resumes_with_a_range_request(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    layout = tmp_path / "layout"
    digest = build_layout(layout, "v1", ["amd64"], 1, 2 * 1024 * 1024)
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])
    cut_once: list[str] = []

    def cut_first_layer_download(request: RequestView) -> Action:
        if request.method == "GET" and "/blobs/" in request.path and not cut_once:
            cut_once.append(request.path)
            return Reset(after_response_bytes=700_000)
        return Forward()

    with Proxy(registry.url, cut_first_layer_download) as proxy:
        result = oci_promote.copy(f"{proxy.host}/app:v1", [f"{registry2.host}/app"], retry_delay=0.01)
        again = [e for e in proxy.exchanges() if e.path == cut_once[0]]
    assert result.digest == digest
    assert len(again) == 2 and again[0].action == "reset"
    resumed = again[1]
    start = int(resumed.request_headers["range"].removeprefix("bytes=").removesuffix("-"))
    assert 0 < start <= again[0].response_bytes  # what arrived before the cut is not fetched again
    assert resumed.status == 206


def test_relative_upload_locations_are_followed(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    layout = tmp_path / "layout"
    digest = build_layout(layout, "v1", ["amd64"], 1, 256 * 1024)

    def relative(status: int, headers: Headers) -> tuple[int, Headers]:
        """Location as a path plus query, as some registries send it."""
        out = []
        for key, value in headers:
            if key.lower() == "location" and "://" in value:
                parts = urlsplit(value)
                value = f"{parts.path}?{parts.query}" if parts.query else parts.path
            out.append((key, value))
        return status, out

    def uploads_relative(request: RequestView) -> Action:
        return Forward(rewrite_response=relative) if "/blobs/uploads/" in request.path else Forward()

    with Proxy(registry2.url, uploads_relative) as proxy:
        for chunked in (False, True):
            result = oci_promote.copy(
                f"oci:{layout}:v1",
                [f"{proxy.host}/rel/app{int(chunked)}"],
                chunked=chunked,
                chunk_size=64 * 1024,
            )
            assert result.digest == digest
        locations = [
            e.response_headers.get("location", "")
            for e in proxy.exchanges()
            if "/blobs/uploads/" in e.path and e.status in (201, 202)
        ]
    assert locations and all(loc.startswith("/v2/") for loc in locations if loc)


def test_bytes_in_flight_show_progress_inside_one_large_blob(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    """Progress must move while a single big blob streams, not only when it completes."""

    from oci_promote.frontend.present import Progress
    from testkit import quirks

    layout = tmp_path / "layout"
    build_layout(layout, "v1", ["amd64"], 1, 4 * 1024 * 1024)
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])
    samples: list[tuple[int, int]] = []
    progress = Progress()

    async def run(source: str) -> None:
        async def sample() -> None:
            while True:
                await asyncio.sleep(0.05)
                rows = list(progress.destinations.values())
                if rows:
                    samples.append((progress.bytes_in_flight, rows[0].blobs_copied))

        sampler = asyncio.ensure_future(sample())
        options = oci_promote.copy_options(source, [f"{registry2.host}/progress/app"], jobs=1)
        try:
            result = await oci_promote.copy_async(options, on_event=progress)
        finally:
            sampler.cancel()
        assert progress.bytes_in_flight == 0  # nothing left counted once done
        assert "bytes_in_flight" not in result.to_dict()["destinations"][0]

    # The source trickles the blob out at 2 MiB/s: the count must rise while it streams.
    with Proxy(registry.url, quirks.slow(2 * 1024 * 1024, downloads=True)) as slow_source:
        asyncio.run(run(f"{slow_source.host}/app:v1"))
    partial = {sent for sent, copied in samples if 0 < sent < 4 * 1024 * 1024}
    assert len(partial) >= 2, samples


def test_a_plain_http_copy_never_loads_a_ca_bundle(
    tmp_path: Path, registry: RunningRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # the environment's bundle is deferred too
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    _tls_context.cache_clear()
    build_layout(tmp_path / "layout", "v1", ["amd64"], 1, 1024)
    oci_promote.copy(f"oci:{tmp_path / 'layout'}:v1", [f"{registry.host}/plain/app"])
    assert tls_context(None).cert_store_stats()["x509_ca"] == 0


def test_large_reads_reach_httpcore(tmp_path: Path, registry: RunningRegistry) -> None:
    """use_large_reads() must still change how much httpcore and asyncio read (class attributes):
    over asyncio's own 256 KiB."""
    build_layout(tmp_path / "layout", "v1", ["amd64"], 1, 16 * 1024 * 1024)
    result = oci_promote.copy(f"oci:{tmp_path / 'layout'}:v1", [f"{registry.host}/big/app"])
    with registry.client() as client:
        manifest = client.get(
            f"/v2/big/app/manifests/{result.digest}", headers={"Accept": OCI_MANIFEST}
        ).json()
    layer = manifest["layers"][0]["digest"]

    async def largest_read() -> int:
        async with httpx.AsyncClient() as http:
            url = f"http://{registry.host}/v2/big/app/blobs/{layer}"
            async with http.stream("GET", url) as response:
                return max([len(chunk) async for chunk in response.aiter_raw()])

    use_large_reads()
    assert 256 * 1024 < asyncio.run(largest_read()) <= READ_SIZE
