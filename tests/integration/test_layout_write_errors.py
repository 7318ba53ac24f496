"""An `oci:` destination the file system refuses, and parallel writers to one layout (issue 18 items 4, 5).

A refusal is one line naming the path and the cause, exit 1, the JSON error object with
`--json`, and no temporary file left. Tests run as root here, where permission bits do
not stop a write, so "no write permission" is an immutable directory (chattr +i) or a
read-only mount; a full disk is a small tmpfs. Mounting needs root: without it those
cases are skipped, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from oci_promote.types.location import REF_NAME
from testkit.images import build_layout
from tests.integration.test_cli import TESTREPO, V3, cli


def _refused(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit 1, one line, naming each of `expected`; the JSON object on stdout; returns the line."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("oci-promote: error: "), result.stderr
    for text in expected:
        assert text in line, line
    error = json.loads(result.stdout)
    assert error["exit_code"] == 1 and error["error"] in line, error
    return line


def _no_temporary_files(path: Path) -> None:
    assert not [p for p in path.rglob("*") if p.name.endswith(".tmp")]


def test_a_path_under_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory\n")
    dest = tmp_path / "file" / "layout"
    result = cli("copy", "--json", f"oci:{TESTREPO}:v3", f"oci:{dest}:v3")
    _refused(result, str(tmp_path / "file"), "Not a directory")


@pytest.fixture
def immutable_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty directory nobody may write to, root included."""
    target = tmp_path / "locked"
    target.mkdir()
    if os.geteuid() != 0:
        target.chmod(0o555)
        yield target
        target.chmod(0o755)
        return
    if shutil.which("chattr") is None:
        pytest.skip("root, and no chattr to make a directory immutable")
    if subprocess.run(["chattr", "+i", str(target)], check=False, capture_output=True).returncode:
        pytest.skip(f"chattr +i is not supported on the file system of {tmp_path}")
    yield target
    subprocess.run(["chattr", "-i", str(target)], check=True)


def test_a_directory_without_write_permission(immutable_dir: Path) -> None:
    result = cli("copy", "--json", f"oci:{TESTREPO}:v3", f"oci:{immutable_dir}:v3")
    _refused(result, str(immutable_dir), "not permitted" if os.geteuid() == 0 else "Permission denied")
    assert list(immutable_dir.iterdir()) == []


def _mount_tmpfs(where: Path, options: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "ro"
    _mount_tmpfs(where, "ro,size=1m")
    yield where
    subprocess.run(["umount", str(where)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "small"
    _mount_tmpfs(where, "size=256k")
    yield where
    subprocess.run(["umount", str(where)], check=True)


def test_a_read_only_file_system(read_only_mount: Path) -> None:
    result = cli("copy", "--json", f"oci:{TESTREPO}:v3", f"oci:{read_only_mount / 'out'}:v3")
    _refused(result, str(read_only_mount / "out"), "Read-only file system")


def test_a_full_disk_leaves_no_temporary_file(tmp_path: Path, small_disk: Path) -> None:
    build_layout(tmp_path / "big", "v1", ["amd64"], layers=1, layer_size=1024 * 1024)
    dest = small_disk / "out"
    result = cli("copy", "--json", f"oci:{tmp_path / 'big'}:v1", f"oci:{dest}:v1")
    _refused(result, str(dest), "No space left on device")
    _no_temporary_files(small_disk)
    assert not (dest / "index.json").exists()


#: A `copy` that waits for a byte on stdin once Python and oci-promote are loaded, so the
#: writers start together rather than spread out by their ~0.5 s of start-up each.
_READY_THEN_COPY = (
    "import sys; from oci_promote.cli.main import main; from oci_promote.cli import run; "
    "sys.stdin.read(1); sys.exit(main(sys.argv[1:]))"
)


def test_parallel_writers_to_one_layout_keep_every_tag(tmp_path: Path) -> None:
    """Four copies into one layout at once, five rounds: every tag lands, every run says so."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_PROMOTE_", "DOCKER_"))}
    env["DOCKER_CONFIG"] = "/nonexistent-docker-config"
    sources = [f"oci:{TESTREPO}:v1", f"oci:{TESTREPO}:v2", f"oci:{TESTREPO}:v3", f"oci:{TESTREPO}:v3"]
    for round_ in range(5):
        out = tmp_path / f"round{round_}"
        runs = [
            subprocess.Popen(
                [sys.executable, "-c", _READY_THEN_COPY, "copy", "-q", source, f"oci:{out}:t{n}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for n, source in enumerate(sources)
        ]
        for run in runs:
            assert run.stdin is not None
            run.stdin.write("go")
            run.stdin.flush()
        for run in runs:
            _, err = run.communicate(timeout=120)
            assert run.returncode == 0, err
        index = json.loads((out / "index.json").read_text())
        by_tag = {e["annotations"][REF_NAME]: e["digest"] for e in index["manifests"] if "annotations" in e}
        ours = sorted(tag for tag in by_tag if not tag.startswith("sha256-"))  # not the referrers' tags
        assert ours == ["t0", "t1", "t2", "t3"], f"round {round_}: {ours}"
        assert by_tag["t2"] == by_tag["t3"] == V3
        _no_temporary_files(out)
