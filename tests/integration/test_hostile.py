"""Hostile or broken sources: each ends in one clear error, nothing tagged, no traceback."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import oci_promote
from oci_promote.errors import DigestMismatchError, ManifestError, PromoteError
from testkit.images import build_layout
from testkit.proxy import Action, Forward, Handler, Headers, Proxy, RequestView, Respond
from testkit.registry import RunningRegistry
from tests.integration.test_cli import cli
from tests.integration.test_faults import tag_digest

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def source(tmp_path: Path, registry: RunningRegistry) -> Iterator[tuple[Proxy, Path, str]]:
    """A 2-platform image in a real registry, behind a proxy the test can turn hostile."""
    layout = tmp_path / "layout"
    digest = build_layout(layout, "v1", ["amd64", "arm64"], 1, 64 * 1024)
    oci_promote.copy(f"oci:{layout}:v1", [f"{registry.host}/app:v1"])
    with Proxy(registry.url) as proxy:
        yield proxy, layout, digest


def _children(layout: Path, digest: str) -> list[dict[str, object]]:
    return list(json.loads((layout / "blobs" / "sha256" / digest[7:]).read_bytes())["manifests"])


def _answer(method: str, path_part: str, response: Respond | Forward) -> Handler:
    def handle(request: RequestView) -> Action:
        return response if request.method == method and path_part in request.path else Forward()

    return handle


def _json(body: object, media_type: str = OCI_MANIFEST) -> Respond:
    return Respond(200, {"Content-Type": media_type}, json.dumps(body).encode())


def _copy_fails(proxy: Proxy, registry2: RunningRegistry, error: type[PromoteError], needle: str) -> str:
    with pytest.raises(error) as caught:
        oci_promote.copy(
            f"{proxy.host}/app:v1", [f"{registry2.host}/victim/app"], retries=1, retry_delay=0.01
        )
    message = str(caught.value)
    assert needle in message and "\n" not in message
    assert tag_digest(registry2, "victim/app", "v1") is None
    return message


def test_child_manifest_with_other_bytes_is_refused(
    source: tuple[Proxy, Path, str], registry2: RunningRegistry
) -> None:
    proxy, layout, digest = source
    child = str(_children(layout, digest)[0]["digest"])
    forged = _json({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []})
    proxy.set_handler(_answer("GET", f"/manifests/{child}", forged))
    message = _copy_fails(proxy, registry2, DigestMismatchError, f"not the {child}")
    assert "refusing to copy it" in message
    assert not [e for e in registry2.access_log() if e.method in ("PUT", "POST", "PATCH")]


def test_digest_header_that_disagrees_with_the_bytes_is_refused(
    source: tuple[Proxy, Path, str], registry2: RunningRegistry
) -> None:
    proxy, _, _ = source
    lie = "sha256:" + "0" * 64

    def rewrite(status: int, headers: Headers) -> tuple[int, Headers]:
        return status, [(k, lie if k.lower() == "docker-content-digest" else v) for k, v in headers]

    proxy.set_handler(_answer("GET", "/manifests/v1", Forward(rewrite_response=rewrite)))
    _copy_fails(proxy, registry2, DigestMismatchError, lie)


@pytest.mark.parametrize("length", ["declared", "chunked"])
def test_oversized_manifest_is_refused_without_reading_it_whole(
    source: tuple[Proxy, Path, str], registry2: RunningRegistry, length: str
) -> None:
    proxy, _, _ = source
    huge = b'{"schemaVersion": 2, "padding": "' + b"x" * (64 * 1024 * 1024) + b'"}'
    headers = {"Content-Type": OCI_INDEX}
    if length == "chunked":  # no Content-Length to refuse it by: the body itself must be cut off
        headers["Transfer-Encoding"] = "chunked"
    proxy.set_handler(_answer("GET", "/manifests/v1", Respond(200, headers, huge)))
    _copy_fails(proxy, registry2, ManifestError, "4194304-byte limit")
    # The proxy writes only as fast as the client reads: past the 4 MiB limit, no more than
    # the loopback socket buffers (a few MiB) may have left it; reading it whole is 64 MiB.
    sent = [e.response_bytes for e in proxy.exchanges() if e.path.endswith("/manifests/v1")]
    assert sent and max(sent) < 24 * 1024 * 1024, sent


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{this is not json", "not valid JSON"),
        (b'{"schemaVersion": 1, "fsLayers": []}', "schema 1"),
        (
            json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "x", "digest": "sha999:" + "a" * 64, "size": 2},
                }
            ).encode(),
            "unsupported algorithm 'sha999'",
        ),
    ],
)
def test_broken_manifest_is_refused(
    source: tuple[Proxy, Path, str], registry2: RunningRegistry, body: bytes, needle: str
) -> None:
    proxy, _, _ = source
    proxy.set_handler(_answer("GET", "/manifests/v1", Respond(200, {"Content-Type": OCI_MANIFEST}, body)))
    _copy_fails(proxy, registry2, ManifestError, needle)
    result = cli("copy", f"{proxy.host}/app:v1", f"{registry2.host}/victim/app", "--retries", "0")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert needle in result.stderr.strip().splitlines()[-1]


def test_blob_that_does_not_match_its_descriptor_is_refused(
    source: tuple[Proxy, Path, str], registry2: RunningRegistry
) -> None:
    proxy, layout, digest = source
    manifest = json.loads(
        (layout / "blobs" / "sha256" / str(_children(layout, digest)[0]["digest"])[7:]).read_bytes()
    )
    layer = manifest["layers"][0]
    forged = bytes(layer["size"])  # right size, wrong bytes
    assert "sha256:" + hashlib.sha256(forged).hexdigest() != layer["digest"]
    proxy.set_handler(_answer("GET", f"/blobs/{layer['digest']}", Respond(200, {}, forged)))
    _copy_fails(proxy, registry2, DigestMismatchError, "does not match its digest")
    seen = registry2.access_log()
    assert not [e for e in seen if e.method == "PUT" and "/manifests/" in e.path]
    assert [e for e in seen if e.method == "DELETE" and "/blobs/uploads/" in e.path]  # session abandoned


@pytest.mark.parametrize(
    "text",
    [
        "localhost:1/app\n::error::injected",
        "localhost:1/app%0A::error::x",
        "::set-output name=digest::x",
        "localhost:1/app:tag\r\n",
        "a" * 300 + "/b",
    ],
)
def test_crafted_references_are_one_line_errors(text: str) -> None:
    result = cli("copy", text, "localhost:1/dest")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("oci-promote: error:")
    assert not any(line.startswith("::") for line in result.stderr.splitlines())


def test_destination_that_resolves_elsewhere_after_the_push_fails(
    tmp_path: Path, registry2: RunningRegistry
) -> None:
    layout = tmp_path / "layout"
    build_layout(layout, "v1", ["amd64"], 1, 4096)
    other = "sha256:" + "c" * 64

    def rewrite(status: int, headers: Headers) -> tuple[int, Headers]:
        return status, [(k, other if k.lower() == "docker-content-digest" else v) for k, v in headers]

    with Proxy(registry2.url) as proxy:
        # Only the check after the push is lied to: the tag's HEAD once the tag exists.
        proxy.set_handler(
            lambda r: (
                Forward(rewrite_response=rewrite)
                if r.method == "HEAD" and r.path.endswith("/manifests/v1") and r.index > 1
                else Forward()
            )
        )
        with pytest.raises(DigestMismatchError) as caught:
            oci_promote.copy(f"oci:{layout}:v1", [f"{proxy.host}/moved/app"])
    assert caught.value.got == other and other in str(caught.value)
    assert "after the push" in str(caught.value)
