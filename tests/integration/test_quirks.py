"""Other registries' quirks, reproduced by a proxy in front of a real registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import oci_promote
from testkit import quirks, skopeo
from testkit.images import MIB, build_layout
from testkit.proxy import Action, Forward, Headers, Proxy, RecordingServer, RequestView
from testkit.registry import RunningRegistry
from tests.conftest import RegistryFactory


@pytest.fixture(scope="module")
def big_layer_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One platform, one 6 MiB layer: over GHCR's 4 MiB per-request limit."""
    layout = tmp_path_factory.mktemp("big") / "layout"
    return layout, build_layout(layout, "v1", ["amd64"], 1, 6 * MIB)


@pytest.fixture
def ghcr_proxy(registry2: RunningRegistry) -> Iterator[Proxy]:
    with Proxy(registry2.url, quirks.ghcr()) as proxy:
        yield proxy


def _bodies(proxy: Proxy, method: str) -> list[tuple[int | None, int]]:
    return [(e.status, e.request_bytes) for e in proxy.exchanges() if e.method == method and e.request_bytes]


def test_ghcr_refuses_monolithic_so_chunks_of_at_most_4_mib_are_sent(
    big_layer_image: tuple[Path, str], registry2: RunningRegistry, ghcr_proxy: Proxy
) -> None:
    layout, digest = big_layer_image
    result = oci_promote.copy(f"oci:{layout}:v1", [f"{ghcr_proxy.host}/ghcr/app"])
    assert result.digest == digest
    refused = [e for e in ghcr_proxy.exchanges() if e.label == "ghcr:monolithic"]
    assert len(refused) == 1 and refused[0].status == 416  # learnt once, then chunks for every blob
    patches = _bodies(ghcr_proxy, "PATCH")
    assert patches and all(size <= 4 * MIB for _, size in patches)
    assert all(status == 202 for status, _ in patches)
    assert (
        skopeo.inspect_raw(f"{registry2.host}/ghcr/app:v1")
        == (layout / "blobs" / "sha256" / digest[7:]).read_bytes()
    )


def test_ghcr_416_on_an_oversized_chunk_shrinks_the_chunks(
    big_layer_image: tuple[Path, str], registry2: RunningRegistry, ghcr_proxy: Proxy
) -> None:
    layout, digest = big_layer_image
    result = oci_promote.copy(
        f"oci:{layout}:v1", [f"{ghcr_proxy.host}/ghcr/big"], chunked=True, chunk_size=8 * MIB
    )
    assert result.digest == digest
    patches = _bodies(ghcr_proxy, "PATCH")
    refused = [size for status, size in patches if status == 416]
    assert len(refused) == 1 and refused[0] > 4 * MIB
    assert all(status == 202 and size <= 4 * MIB for status, size in patches if status != 416)
    # the layer arrived whole: the registry checked its digest when the upload closed
    closing = [e for e in ghcr_proxy.exchanges() if e.method == "PUT" and "digest=" in e.query]
    assert closing and all(e.status == 201 for e in closing)
    assert (
        skopeo.inspect_raw(f"{registry2.host}/ghcr/big:v1")
        == (layout / "blobs" / "sha256" / digest[7:]).read_bytes()
    )


def test_ecr_patch_201_and_no_digest_headers(
    big_layer_image: tuple[Path, str], registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    layout, digest = big_layer_image
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])
    with Proxy(registry.url, quirks.ecr()) as source, Proxy(registry2.url, quirks.ecr()) as dest:
        result = oci_promote.copy(f"{source.host}/app:v1", [f"{dest.host}/ecr/app"], chunked=True)
        assert result.digest == digest
        patches = _bodies(dest, "PATCH")
        assert patches and all(status == 201 for status, _ in patches)
        everything = source.exchanges() + dest.exchanges()
        assert not [e for e in everything if "docker-content-digest" in e.response_headers]
        dest.clear()
        again = oci_promote.copy(f"{source.host}/app:v1", [f"{dest.host}/ecr/app"])
        assert again.destinations[0].up_to_date  # resolved by hashing the body, not a header
        assert not [e for e in dest.exchanges() if e.method in ("PUT", "POST", "PATCH")]


@pytest.mark.parametrize("retry_after", ["0", pytest.param("date", marks=pytest.mark.slow)])
def test_dockerhub_429s_are_waited_out(
    big_layer_image: tuple[Path, str], registry: RunningRegistry, registry2: RunningRegistry, retry_after: str
) -> None:
    layout, digest = big_layer_image
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/library/app:v1"])
    handler = quirks.dockerhub(0.4, retry_after=retry_after)  # type: ignore[arg-type]
    with Proxy(registry.url, handler, seed=7) as hub:
        result = oci_promote.copy(f"{hub.host}/library/app:v1", [f"{registry2.host}/mirror/app"], retries=8)
        throttled = [e for e in hub.exchanges() if e.status == 429]
    assert result.digest == digest and throttled


def test_redirected_blob_downloads_never_carry_credentials(
    big_layer_image: tuple[Path, str], registry_factory: RegistryFactory, registry2: RunningRegistry
) -> None:
    layout, digest = big_layer_image
    private = registry_factory(auth="htpasswd")
    creds = f"{private.username}:{private.password}"
    oci_promote.copy(f"oci:{layout}:v1", [f"{private.host}/app:v1"], dest_creds=creds)
    source = quirks.registry_blob_source(private.url, auth=(private.username, private.password))
    with (
        RecordingServer(source, reject_authorization=True) as cdn,
        Proxy(private.url, quirks.redirect_blobs(cdn, require_authorization=True)) as front,
    ):
        result = oci_promote.copy(f"{front.host}/app:v1", [f"{registry2.host}/app"], src_creds=creds)
        seen = cdn.requests()
    assert result.digest == digest
    assert len(seen) == 2  # the config and the layer, both fetched from the CDN
    assert all("authorization" not in r.headers for r in seen)


def test_chunks_are_never_smaller_than_the_registry_asks(tmp_path: Path, registry2: RunningRegistry) -> None:
    layout = tmp_path / "layout"
    digest = build_layout(layout, "v1", ["amd64"], 1, 1024 * 1024)
    minimum = 300_000

    def announce_minimum(status: int, headers: Headers) -> tuple[int, Headers]:
        return status, [*headers, ("OCI-Chunk-Min-Length", str(minimum))]

    def handler(request: RequestView) -> Action:
        starts_session = request.method == "POST" and request.path.endswith("/blobs/uploads/")
        return Forward(rewrite_response=announce_minimum) if starts_session else Forward()

    with Proxy(registry2.url, handler) as proxy:
        result = oci_promote.copy(
            f"oci:{layout}:v1", [f"{proxy.host}/min/app"], chunked=True, chunk_size=65536
        )
        layer_patches = [size for status, size in _bodies(proxy, "PATCH") if size > 10_000]
    assert result.digest == digest
    assert layer_patches and all(size >= minimum for size in layer_patches[:-1])
