"""skopeo's archive transports are named as unsupported, with the way round (issue 18 item 14).

Choice: no `oci-archive:` support. An archive must be unpacked to be read blob by blob
(or written whole at the end), which doubles the disk a large image needs, for what
`tar -xf` plus `oci:DIR` already does; the error says exactly that.
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest

from oci_promote.types.reference import parse_reference
from testkit.registry import RunningRegistry
from tests.integration.test_cli import TESTREPO, V3, cli


@pytest.mark.parametrize("transport", ["oci-archive", "docker-archive"])
def test_an_archive_transport_is_named_not_misread_as_a_port(
    tmp_path: Path, registry: RunningRegistry, transport: str
) -> None:
    archive = f"{transport}:{tmp_path / 'image.tar'}"
    for args in (["copy", archive, f"{registry.host}/a/b"], ["copy", f"oci:{TESTREPO}:v3", archive]):
        result = cli(*args)
        assert result.returncode == 2, result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert f"the {transport}: transport is not supported" in line and "oci:PATH" in line, line
        assert "invalid port" not in line
    assert registry.access_log() == []


def test_the_way_round_for_an_oci_archive_works(tmp_path: Path, registry: RunningRegistry) -> None:
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:
        for entry in sorted(TESTREPO.iterdir()):
            tar.add(entry, arcname=entry.name)
    said = cli("copy", f"oci-archive:{archive}:v3", f"{registry.host}/a/b").stderr
    assert "tar -xf FILE -C DIR, then oci:DIR" in said
    unpacked = tmp_path / "layout"
    unpacked.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(unpacked)], check=True)
    copied = cli("copy", "--no-referrers", f"oci:{unpacked}:v3", f"{registry.host}/a/b")
    assert copied.returncode == 0, copied.stderr
    assert copied.stdout.strip() == f"{registry.host}/a/b@{V3}"


def test_names_that_are_only_images_stay_images() -> None:
    assert str(parse_reference("dir:latest")) == "docker.io/library/dir:latest"
    assert str(parse_reference("sif")) == "docker.io/library/sif:latest"
