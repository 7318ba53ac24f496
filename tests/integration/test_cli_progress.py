"""Progress during a long copy: lines every few seconds off a terminal, a live display on one."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from oci_promote.cli.live import LiveDisplay
from oci_promote.cli.progress import Observer
from oci_promote.events import BlobDone, BlobProgress, BlobStarted, DestinationPlanned, PhaseEntered
from testkit import quirks
from testkit.images import build_layout
from testkit.proxy import Proxy
from testkit.registry import RunningRegistry
from tests.integration.test_cli import cli
from tests.integration.test_cli_interrupts import _env


@pytest.fixture
def slow_dest(registry2: RunningRegistry) -> Iterator[Proxy]:
    with Proxy(registry2.url, name="slow-dest") as proxy:
        proxy.set_handler(quirks.slow(300_000))
        yield proxy


@pytest.fixture
def big_source(tmp_path: Path, registry: RunningRegistry) -> str:
    layout = tmp_path / "layout"
    build_layout(layout, "v1", ["amd64"], 2, 700_000)  # 1.4 MB at 300 KB/s: about 5 s
    source = f"{registry.host}/src/big:v1"
    assert cli("copy", f"oci:{layout}:v1", source).returncode == 0
    return source


@pytest.mark.slow  # about 5 s at 300 KB/s
def test_progress_lines_off_a_terminal_and_none_with_quiet(big_source: str, slow_dest: Proxy) -> None:
    result = cli("copy", "--jobs", "1", big_source, f"{slow_dest.host}/dst/big:v1")  # about 5 s
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("copying: ")]
    assert lines, result.stderr
    assert " of 3 blobs, " in lines[0] and "MB" in lines[0]
    quiet = cli("-q", "copy", big_source, f"{slow_dest.host}/dst/quiet:v1")
    assert quiet.returncode == 0 and quiet.stderr == ""


@pytest.mark.slow  # about 5 s at 300 KB/s
def test_live_display_on_a_terminal(big_source: str, slow_dest: Proxy) -> None:
    """stderr is a pseudo-terminal: rich draws the destination's row with bytes and blobs."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "oci_promote", "copy", big_source, f"{slow_dest.host}/dst/tty:v1"],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env={**_env(), "COLUMNS": "160", "TERM": "xterm"},
    )
    os.close(terminal)
    seen = b""
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        try:
            seen += os.read(controller, 65536)
        except OSError:
            break
    out, _ = process.communicate(timeout=30)
    os.close(controller)
    assert process.returncode == 0, seen.decode(errors="replace")
    text = seen.decode(errors="replace")
    assert f"{slow_dest.host}/dst/tty:v1" in text
    assert "/3 blobs" in text and "MB" in text and "/s" in text
    assert "copying: " not in text  # the line form is for logs, not terminals
    digest = cli("digest", big_source).stdout.strip()
    assert digest.startswith("sha256:")
    assert out.decode() == f"{slow_dest.host}/dst/tty@{digest}\n"  # the display stays off stdout


def test_live_display_rows_follow_the_events() -> None:
    buffer = io.StringIO()
    live = LiveDisplay(Console(file=buffer, force_terminal=True, width=140))
    observer = Observer(show=True, live=live)
    events = [
        PhaseEntered("copy", ("r.example/a:v1", "r.example/b:v1")),
        DestinationPlanned("r.example/a:v1", "r.example/a@sha256:x", False, 2, 2_000_000, 0),
        DestinationPlanned("r.example/b:v1", "r.example/b@sha256:x", True, 0, 0, 2),
        BlobStarted("r.example/a:v1", "sha256:1", 1_000_000),
        BlobProgress("r.example/a:v1", "sha256:1", 500_000, 1_000_000),
        BlobProgress("r.example/a:v1", "sha256:1", 1_000_000, 1_000_000),
        BlobDone("r.example/a:v1", "sha256:1", 1_000_000, "copied"),
    ]
    with observer:
        for event in events:
            observer(event)
    text = buffer.getvalue()
    assert "r.example/a:v1" in text and "1/2 blobs" in text
    assert "1.0/2.0 MB" in text
    assert "r.example/b:v1" not in text  # up to date: nothing to show


def test_rich_is_imported_only_for_a_terminal() -> None:
    """rich costs a quarter second of start-up: a CI log or a pipe must not pay it.

    httpx imports its own CLI (click, pygments, rich) when all three are installed; click is
    not in the Action's lock, and hiding it here shows what our own modules import.
    """
    code = "import sys; sys.modules['click'] = None; import oci_promote.cli.run; print('rich' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "False\n"
