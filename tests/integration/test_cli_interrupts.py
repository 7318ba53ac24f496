"""Ctrl-C and SIGTERM: one line, the conventional exit status, no tag moved, no traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit import quirks
from testkit.images import build_layout
from testkit.proxy import Proxy
from testkit.registry import RunningRegistry
from tests.integration.test_cli import cli

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_PROMOTE_", "DOCKER_"))}
    env["DOCKER_CONFIG"] = "/nonexistent-docker-config"
    return env


@pytest.fixture
def slow_dest(registry2: RunningRegistry) -> Iterator[Proxy]:
    """The destination behind a proxy that lets uploads through at 200 KB/s."""
    with Proxy(registry2.url, name="slow-dest") as proxy:
        proxy.set_handler(quirks.slow(200_000))
        yield proxy


def _tag_exists(registry: RunningRegistry, repo: str, tag: str) -> bool:
    with registry.client() as client:
        return client.head(f"/v2/{repo}/manifests/{tag}").status_code == 200


def _start_slow_copy(
    tmp_path: Path, registry: RunningRegistry, proxy: Proxy, *flags: str
) -> subprocess.Popen[str]:
    layout = tmp_path / "layout"
    build_layout(layout, "v1", ["amd64"], 3, 1_000_000)  # 3 MB at 200 KB/s: about 15 s
    assert cli("copy", f"oci:{layout}:v1", f"{registry.host}/src/big:v1").returncode == 0
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oci_promote",
            "copy",
            *flags,
            f"{registry.host}/src/big:v1",
            f"{proxy.host}/dst/big:v1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    deadline = time.monotonic() + 30
    while not [e for e in proxy.exchanges() if e.method in ("PUT", "PATCH")]:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the copy never started uploading"
        time.sleep(0.05)
    return process


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_upload_is_one_line_and_moves_no_tag(
    tmp_path: Path,
    registry: RunningRegistry,
    registry2: RunningRegistry,
    slow_dest: Proxy,
    signum: signal.Signals,
    status: int,
) -> None:
    process = _start_slow_copy(tmp_path, registry, slow_dest)
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == status, err
    lines = [line for line in err.splitlines() if not line.startswith(("resolving", "source ", "plan"))]
    assert lines[-1] == f"oci-promote: interrupted by {signum.name}", err
    assert "Traceback" not in err and "never awaited" not in err
    assert out == ""
    assert not _tag_exists(registry2, "dst/big", "v1")
    # the upload session left open by the interrupted PUT was cancelled on the way out
    assert [e for e in slow_dest.exchanges() if e.method == "DELETE" and "/blobs/uploads/" in e.path]


def test_interrupt_during_start_up_is_one_line() -> None:
    """Ctrl-C while the heavy modules import: KeyboardInterrupt is raised inside `import httpx`."""
    code = (
        "import runpy, sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'httpx':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "sys.argv = ['oci-promote', 'digest', 'localhost:1/a:b']\n"
        "runpy.run_module('oci_promote', run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60, check=False
    )
    assert result.returncode == 130, result.stderr
    assert result.stderr.splitlines() == ["oci-promote: interrupted by SIGINT"]


def test_sigterm_with_json_prints_the_failure_object(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry, slow_dest: Proxy
) -> None:
    process = _start_slow_copy(tmp_path, registry, slow_dest, "--json")
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 143, err
    assert json.loads(out) == {
        "error": "interrupted by SIGTERM",
        "exit_code": 143,
        "destination": None,
        "tags_moved": [],
    }
    assert not _tag_exists(registry2, "dst/big", "v1")
