"""Every image in the shared third-party layouts survives oci: -> registry -> registry byte for byte.

skopeo, an independent implementation, reads back what we wrote and must see
the same bytes and be able to pull the whole image.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import oci_promote
from oci_promote.errors import DigestMismatchError, IncompleteSourceError
from testkit import skopeo
from testkit.registry import RunningRegistry
from tests.conftest import FIXTURES_DIR

SPARSE = "dockerhub-hello-world-sparse-list"
#: Images whose own descriptors are wrong; copying them must fail cleanly.
#: containers/image's `1.0.0` declares its config as 585 bytes; the blob has 584
#: (skopeo refuses it too: "ContentLength=585 with Body length 584").
BROKEN = {
    "sha256:0dc27f36a618c110ae851662c13283e9fbc1b5a5de003befc4bcefa5a05d2eef": "got 584 bytes, "
    "descriptor says 585",
}


def _entries() -> list[tuple[str, str, str | None]]:
    """(layout, digest, tag) for every image listed in every shared layout."""
    out = []
    for layout in sorted(p for p in FIXTURES_DIR.iterdir() if (p / "index.json").is_file()):
        if layout.name == SPARSE:
            continue  # tested below: it cannot be copied whole
        index = json.loads((layout / "index.json").read_bytes())
        for entry in index["manifests"] or []:
            tag = (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name")
            if entry["digest"] not in BROKEN:
                out.append((layout.name, entry["digest"], tag))
    return out


ENTRIES = _entries()


@pytest.mark.parametrize(
    ("layout", "digest", "tag"), ENTRIES, ids=[f"{e[0]}-{e[2] or e[1][7:19]}" for e in ENTRIES]
)
def test_fixture_copies_byte_for_byte(
    layout: str,
    digest: str,
    tag: str | None,
    registry: RunningRegistry,
    registry2: RunningRegistry,
    tmp_path: Path,
) -> None:
    layout_dir = FIXTURES_DIR / layout
    source_bytes = (layout_dir / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()
    assert "sha256:" + hashlib.sha256(source_bytes).hexdigest() == digest  # the fixture is intact

    first = oci_promote.copy(f"oci:{layout_dir}@{digest}", [f"{registry.host}/fx/{layout}:t"])
    assert first.digest == digest
    second = oci_promote.copy(f"{registry.host}/fx/{layout}:t", [f"{registry2.host}/copy/{layout}"])
    assert second.digest == digest
    assert second.destinations[0].pinned == f"{registry2.host}/copy/{layout}@{digest}"

    for where in (f"{registry.host}/fx/{layout}:t", f"{registry2.host}/copy/{layout}:t"):
        assert skopeo.inspect_raw(where) == source_bytes
    assert_complete(f"{registry2.host}/copy/{layout}", digest, tmp_path)


def assert_complete(repository: str, digest: str, tmp_path: Path) -> None:
    """skopeo, independently, reads every manifest and pulls every image of the tree.

    A plain `skopeo copy --all` cannot be the whole check: skopeo 1.9 refuses nested
    indexes ("received a manifest list instead of a manifest") and will not store
    some indexes unconverted. So walk the tree with `inspect --raw`, and pull each
    image manifest (config and every layer) with `skopeo copy` into an OCI layout.
    """
    raw = skopeo.inspect_raw(f"{repository}@{digest}")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    body = json.loads(raw)
    if "manifests" in body:
        for child in body["manifests"]:
            assert_complete(repository, child["digest"], tmp_path)
        return
    target = tmp_path / f"pull-{digest[7:19]}"
    skopeo.run_skopeo(
        ["copy", "--src-tls-verify=false", f"docker://{repository}@{digest}", f"oci:{target}:x"]
    )
    assert (target / "index.json").is_file()


def test_sparse_index_fails_naming_missing_child_and_tags_nothing(registry: RunningRegistry) -> None:
    layout = FIXTURES_DIR / SPARSE
    with pytest.raises(IncompleteSourceError) as caught:
        oci_promote.copy(f"oci:{layout}", [f"{registry.host}/sparse/hello:latest"])
    message = str(caught.value)
    assert caught.value.missing in message
    assert "missing" in message and "(linux/" in message
    with registry.client() as client:
        assert client.get("/v2/sparse/hello/tags/list").status_code == 404
    assert not [e for e in registry.access_log() if e.method in ("PUT", "POST", "PATCH")]


@pytest.mark.parametrize("digest", sorted(BROKEN))
def test_image_with_lying_descriptor_is_refused_and_nothing_tagged(
    digest: str, registry: RunningRegistry
) -> None:
    layout = FIXTURES_DIR / "containers-image-multiple-images"
    with pytest.raises(DigestMismatchError) as caught:
        oci_promote.copy(f"oci:{layout}@{digest}", [f"{registry.host}/broken/image:v1"])
    assert BROKEN[digest] in str(caught.value)
    assert not [e for e in registry.access_log() if "/manifests/" in e.path and e.method == "PUT"]
