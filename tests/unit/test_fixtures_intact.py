"""The vendored third-party layouts are byte-exact: any rewrite would change their digests."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.conftest import FIXTURES_DIR, SHARED_FIXTURES_DIR


def test_every_blob_hashes_to_its_name_and_every_descriptor_size_is_right() -> None:
    blobs = sorted(FIXTURES_DIR.glob("*/blobs/sha256/*"))
    assert len(blobs) >= 150
    for blob in blobs:
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, blob
    for index in FIXTURES_DIR.glob("*/index.json"):
        for entry in json.loads(index.read_bytes())["manifests"] or []:
            path = index.parent / "blobs" / "sha256" / entry["digest"].removeprefix("sha256:")
            if path.exists():
                assert path.stat().st_size == entry["size"], path


def test_vendored_copy_equals_the_shared_fixtures() -> None:
    if not SHARED_FIXTURES_DIR.is_dir():
        pytest.skip(f"no shared fixtures at {SHARED_FIXTURES_DIR} to compare with")
    shared = {
        p.relative_to(SHARED_FIXTURES_DIR): p.read_bytes()
        for p in SHARED_FIXTURES_DIR.rglob("*")
        if p.is_file()
    }
    vendored = {p.relative_to(FIXTURES_DIR): p.read_bytes() for p in FIXTURES_DIR.rglob("*") if p.is_file()}
    assert vendored == shared
