"""An error names the side it happened on (issue 18 item 15)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from testkit.registry import RunningRegistry
from tests.integration.test_cli import TESTREPO, cli

#: A layer of v3 (every platform of v3 has it).
LAYER = "adc1ef6389168fbca31b7480d561a217e54f0fa883162ced06147b5bd61f1e7f"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    copy = tmp_path / "source"
    shutil.copytree(TESTREPO, copy)
    return copy


def _last_line(args: list[str], code: int) -> str:
    result = cli(*args)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_bad_blob_in_the_source_layout_is_the_source_s(
    source: Path, tmp_path: Path, registry: RunningRegistry, damage: str
) -> None:
    blob = source / "blobs" / "sha256" / LAYER
    if damage == "missing":
        blob.unlink()
    else:
        data = bytearray(blob.read_bytes())
        data[10] ^= 1
        blob.write_bytes(bytes(data))
    for dest in (f"oci:{tmp_path / 'out'}:v3", f"{registry.host}/side/app:v3"):
        line = _last_line(["copy", "--no-referrers", f"oci:{source}:v3", dest], 1)
        assert line.startswith(f"oci-promote: error: source: oci:{source}: blob "), line
        assert "destination" not in line and LAYER in line, line


def test_a_corrupt_index_json_at_the_destination_is_the_destination_s(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (dest / "index.json").write_text("not json")
    line = _last_line(["copy", f"oci:{TESTREPO}:v3", f"oci:{dest}:v3"], 2)
    assert line.startswith(f"oci-promote: error: destination oci:{dest}: {dest / 'index.json'} "), line
    assert str(TESTREPO) not in line
    assert (dest / "index.json").read_text() == "not json"
