"""The manifest walker: what it accepts, what it refuses, and that no input crashes it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oci_promote.errors import ManifestError
from oci_promote.types.digest import compute
from oci_promote.types.media import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    OCI_MANIFEST,
    parse_manifest,
)

DIGEST = "sha256:" + "a" * 64


def _desc(media_type: str = "application/vnd.oci.image.layer.v1.tar+gzip", **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": DIGEST, "size": 3, **extra}


def _raw(body: Any) -> bytes:
    return json.dumps(body).encode()


def test_image_manifest_lists_config_then_layers() -> None:
    raw = _raw({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _desc("c"), "layers": [_desc()]})
    manifest = parse_manifest(raw)
    assert manifest.media_type == OCI_MANIFEST and not manifest.is_index
    assert [b.media_type for b in manifest.blobs] == ["c", "application/vnd.oci.image.layer.v1.tar+gzip"]
    assert manifest.raw is raw and manifest.digest == compute(raw)


def test_index_lists_children_with_platforms() -> None:
    child = _desc(OCI_MANIFEST, platform={"os": "linux", "architecture": "arm", "variant": "v7"})
    manifest = parse_manifest(_raw({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child]}))
    assert manifest.is_index and manifest.children[0].platform == "linux/arm/v7"


@pytest.mark.parametrize(
    ("body", "declared", "expected"),
    [
        ({"schemaVersion": 2, "manifests": []}, DOCKER_MANIFEST_LIST, OCI_INDEX),
        ({"schemaVersion": 2, "config": _desc("c"), "layers": []}, DOCKER_MANIFEST, OCI_MANIFEST),
        (
            {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": _desc("c")},
            OCI_MANIFEST,
            DOCKER_MANIFEST,
        ),
    ],
)
def test_own_media_type_wins_and_missing_one_is_the_oci_type(
    body: dict[str, Any], declared: str, expected: str
) -> None:
    assert parse_manifest(_raw(body), declared=declared).media_type == expected


def test_foreign_layers_are_marked() -> None:
    foreign = _desc("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", urls=["https://x/y"])
    raw = _raw({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": _desc("c"), "layers": [foreign]})
    assert parse_manifest(raw).blobs[1].is_foreign


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (_raw({"schemaVersion": 1, "fsLayers": []}), "schema 1"),
        (_raw({"schemaVersion": 2, "mediaType": "text/plain"}), "unsupported manifest media type"),
        (_raw({"schemaVersion": 2, "mediaType": OCI_MANIFEST}), "no config"),
        (_raw({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _desc(digest="md5:abc")}), "md5"),
        (_raw({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _desc(size=-1)}), "invalid size"),
        (_raw({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": {}}), "not a list"),
        (b" " * (MAX_MANIFEST_BYTES + 1), "limit"),
    ],
)
def test_refusals_say_why(raw: bytes, needle: str) -> None:
    with pytest.raises(ManifestError, match=needle):
        parse_manifest(raw)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
_keys = st.sampled_from(["schemaVersion", "mediaType", "config", "layers", "manifests", "subject", "blobs"])
_manifestish = st.dictionaries(_keys, _json | st.builds(_desc), max_size=6)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=200), _json.map(_raw), _manifestish.map(_raw)))
def test_arbitrary_input_is_accepted_or_refused_with_our_error(raw: bytes) -> None:
    try:
        manifest = parse_manifest(raw)
    except ManifestError:
        return
    assert manifest.raw == raw
    for descriptor in (*manifest.blobs, *manifest.children):
        assert descriptor.size >= 0
