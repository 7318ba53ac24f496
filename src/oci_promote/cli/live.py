"""The live progress display on a terminal: rich, imported only when a terminal is there."""

from __future__ import annotations

import logging
import sys
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress

from ..frontend.present import Progress

log = logging.getLogger("oci_promote")


class LiveDisplay:
    """One rich progress row per destination that lacks something."""

    def __init__(self, console: Console) -> None:
        self._rows: dict[str, TaskID] = {}
        self._saved: list[tuple[logging.StreamHandler[Any], Any]] = []
        self._display = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[blobs]}"),
            TimeElapsedColumn(),
            console=console,
            refresh_per_second=4,
        )

    @classmethod
    def on_stderr(cls) -> LiveDisplay:
        return cls(Console(stderr=True))

    def start(self) -> None:
        self._display.start()
        # While live, rich redirects sys.stderr so log lines print above the display; the
        # log handlers still hold the real stderr: point them at the redirect meanwhile.
        handlers = [h for h in log.handlers if isinstance(h, logging.StreamHandler)]
        self._saved = [(h, h.setStream(sys.stderr)) for h in handlers]

    def stop(self) -> None:
        for handler, stream in self._saved:
            handler.setStream(stream)
        self._display.stop()

    def show(self, progress: Progress) -> None:
        for label, row in progress.destinations.items():
            if row.up_to_date or not row.blobs_missing:
                continue
            done = row.blobs_copied + row.blobs_mounted
            blobs = f"{done}/{row.blobs_missing} blobs"
            if label not in self._rows:
                self._rows[label] = self._display.add_task(label, total=row.bytes_missing, blobs=blobs)
            sent = row.bytes_copied + progress.in_flight_at(label)
            self._display.update(self._rows[label], completed=sent, blobs=blobs)
