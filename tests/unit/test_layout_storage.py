"""The OCI layout storage on its own: atomic blobs, index.json entries, clear errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from oci_promote.errors import DigestMismatchError, ManifestError, UsageError
from oci_promote.storage.layout import LayoutStorage
from oci_promote.types.digest import compute
from oci_promote.types.media import OCI_MANIFEST, Descriptor

LAYER = "application/vnd.oci.image.layer.v1.tar"


def _body(*chunks: bytes) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return gen()


def test_a_blob_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    store = LayoutStorage(tmp_path / "out")
    good = b"hello, layout"
    desc = Descriptor(LAYER, compute(good), len(good))
    assert anyio.run(lambda: store.put_blob(desc, lambda: _body(good[:5], good[5:]))) == "copied"
    assert (tmp_path / "out" / "blobs" / "sha256" / desc.digest.encoded).read_bytes() == good
    liar = Descriptor(LAYER, compute(b"other bytes!!"), len(good))
    with pytest.raises(DigestMismatchError):
        anyio.run(lambda: store.put_blob(liar, lambda: _body(good)))
    assert sorted(p.name for p in (tmp_path / "out" / "blobs" / "sha256").iterdir()) == [desc.digest.encoded]


def test_tags_live_in_index_json_and_move(tmp_path: Path) -> None:
    store = LayoutStorage(tmp_path / "out")
    one, two = b'{"schemaVersion":2,"n":1}', b'{"schemaVersion":2,"n":2}'

    async def run() -> None:
        await store.put_manifest(str(compute(one)), one, OCI_MANIFEST, child=True)
        assert not (tmp_path / "out" / "index.json").exists()  # a child is no entry of its own
        await store.put_manifest(str(compute(one)), one, OCI_MANIFEST)
        await store.put_manifest("v1", one, OCI_MANIFEST)  # the untagged entry gives way to the tag
        await store.put_manifest("v2", one, OCI_MANIFEST)
        await store.put_manifest("v1", two, OCI_MANIFEST)  # the tag moves
        assert await store.resolve("v1") == compute(two)
        assert await store.resolve("v2") == compute(one)
        assert (await store.get_manifest("v2")).raw == one
        page = await store.list_tags(limit=1)
        assert page.tags == ("v1",) and (await store.list_tags(last=page.next)).tags == ("v2",)

    anyio.run(run)
    entries = json.loads((tmp_path / "out" / "index.json").read_text())["manifests"]
    names = [(e["digest"], e["annotations"]["org.opencontainers.image.ref.name"]) for e in entries]
    assert names == [(str(compute(one)), "v2"), (str(compute(two)), "v1")]


def test_a_broken_index_is_named(tmp_path: Path) -> None:
    (tmp_path / "oci-layout").write_text("{}")
    (tmp_path / "index.json").write_text('{"manifests": "x"}')
    with pytest.raises(ManifestError, match="'manifests' is str, not a list"):
        LayoutStorage(tmp_path).check_source()


def test_a_missing_tag_lists_the_tags_there(tmp_path: Path) -> None:
    store = LayoutStorage(tmp_path / "out")
    raw = b'{"schemaVersion":2}'
    anyio.run(lambda: store.put_manifest("v1", raw, OCI_MANIFEST))
    with pytest.raises(UsageError, match=r"tag 'v9' not found .*; tags there: v1"):
        anyio.run(lambda: store.get_manifest("v9"))


def test_a_destination_must_be_a_layout_or_empty(tmp_path: Path) -> None:
    LayoutStorage(tmp_path / "new").check_destination()
    (tmp_path / "empty").mkdir()
    LayoutStorage(tmp_path / "empty").check_destination()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not an OCI image layout"):
        LayoutStorage(tmp_path / "file").check_destination()
