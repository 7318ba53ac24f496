"""Progress of a CLI copy, from the engine's events, on stderr.

On a terminal: a live display (rich) with one row per destination: bytes sent
of bytes missing, rate, blobs done of blobs missing. Elsewhere (CI logs, pipes):
a line every few seconds, the Action's line (`present.Progress`). `-q`: nothing.
The counting is `present.Progress` either way. The observer also remembers which
tags moved, so a failure or an interrupt can say so (`--json`'s `tags_moved`).
"""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
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

from .events import Event, TagMoved
from .present import Progress

log = logging.getLogger("oci_promote")
#: Seconds between two progress lines when stderr is not a terminal.
LINE_EVERY = 3.0


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


class Observer:
    """The copy's event callback: counts progress, shows it, records moved tags."""

    def __init__(self, *, show: bool, live: LiveDisplay | None = None, every: float = LINE_EVERY) -> None:
        self.progress = Progress()
        self.tags_moved: list[str] = []
        self._show = show
        self._live = live
        self._every = every
        self._started = self._last = time.monotonic()

    @classmethod
    def for_stderr(cls, *, quiet: bool) -> Observer:
        """A live display when stderr is a terminal, else lines now and then; nothing with `-q`."""
        live = LiveDisplay(Console(stderr=True)) if not quiet and sys.stderr.isatty() else None
        return cls(show=not quiet, live=live)

    def __call__(self, event: Event) -> None:
        self.progress(event)
        if isinstance(event, TagMoved):
            self.tags_moved.append(event.destination)
        if not self._show:
            return
        if self._live is not None:
            self._live.show(self.progress)
            return
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            line = self.progress.line(now - self._started)
            if line is not None:
                log.info("%s", line)

    def __enter__(self) -> Observer:
        self._started = self._last = time.monotonic()
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()
