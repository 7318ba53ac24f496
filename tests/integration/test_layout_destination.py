"""An OCI image layout as a destination: `copy SRC oci:DIR[:TAG]`, byte for byte, read back by skopeo."""

from __future__ import annotations

import json
from pathlib import Path

import oci_promote
from testkit import skopeo
from testkit.registry import RunningRegistry
from tests.integration.test_cli import TESTREPO, V3, cli, seed


def test_registry_to_layout_and_back_keeps_every_digest(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    out = tmp_path / "export"
    result = cli("copy", source, f"oci:{out}:v3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"oci:{out}@{V3}"
    assert json.loads((out / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    (entry,) = json.loads((out / "index.json").read_text())["manifests"]
    assert entry["digest"] == V3 and entry["annotations"] == {"org.opencontainers.image.ref.name": "v3"}
    assert not list(out.rglob("*.tmp"))
    # every blob of the fixture, byte for byte, and nothing else
    ours = {p.name: p.read_bytes() for p in (out / "blobs" / "sha256").iterdir()}
    theirs = {p.name: p.read_bytes() for p in (TESTREPO / "blobs" / "sha256").iterdir() if p.name in ours}
    assert ours == theirs

    raw = skopeo.run_skopeo(["inspect", "--raw", f"oci:{out}:v3"])
    assert raw == skopeo.inspect_raw(source)
    skopeo.copy_oci_to_registry(out, "v3", f"{registry2.host}/by-skopeo/app:v3")
    assert skopeo.inspect_raw(f"{registry2.host}/by-skopeo/app:v3") == raw
    back = cli("copy", f"oci:{out}:v3", f"{registry2.host}/back/app")
    assert back.returncode == 0, back.stderr
    assert back.stdout.strip() == f"{registry2.host}/back/app@{V3}"
    assert skopeo.inspect_raw(f"{registry2.host}/back/app:v3") == raw


def test_a_layout_is_extended_and_a_rerun_is_up_to_date(tmp_path: Path, registry: RunningRegistry) -> None:
    source = seed(registry)
    out = tmp_path / "export"
    oci_promote.copy(source, [f"oci:{out}:v3"])
    blobs_before = sorted(p.name for p in (out / "blobs" / "sha256").iterdir())
    again = oci_promote.copy(source, [f"oci:{out}:v3", f"oci:{out}:stable"])
    assert again.destinations[0].up_to_date and not again.destinations[1].up_to_date
    assert sorted(p.name for p in (out / "blobs" / "sha256").iterdir()) == blobs_before
    entries = json.loads((out / "index.json").read_text())["manifests"]
    assert [e["annotations"]["org.opencontainers.image.ref.name"] for e in entries] == ["v3", "stable"]
    assert skopeo.run_skopeo(["inspect", "--raw", f"oci:{out}:stable"]) == skopeo.inspect_raw(source)


def test_a_dry_run_to_a_layout_creates_nothing(tmp_path: Path, registry: RunningRegistry) -> None:
    source = seed(registry)
    result = oci_promote.copy(source, [f"oci:{tmp_path / 'never'}:v3"], dry_run=True)
    assert result.destinations[0].blobs_missing == 9
    assert not (tmp_path / "never").exists()


def test_a_directory_that_is_not_a_layout_is_refused(tmp_path: Path, registry: RunningRegistry) -> None:
    source = seed(registry)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    result = cli("copy", source, f"oci:{tmp_path / 'home'}:v3")
    assert result.returncode == 2
    assert "not an OCI image layout" in result.stderr.strip().splitlines()[-1]
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["notes.txt"]


def test_a_broken_index_json_is_named_as_such(tmp_path: Path, registry: RunningRegistry) -> None:
    layout = tmp_path / "broken"
    layout.mkdir()
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text('{"schemaVersion": 2, "manifests": "x"}')
    result = cli("copy", f"oci:{layout}:v1", f"{registry.host}/x/y")
    assert result.returncode != 0
    line = result.stderr.strip().splitlines()[-1]
    assert "index.json" in line and "'manifests'" in line and "not a list" in line
    assert "tags there" not in line
