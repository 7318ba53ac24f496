"""Progress of a CLI copy, from the engine's events, on stderr.

On a terminal: a live display (`cli_live`, rich) with one row per destination: bytes sent
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
from typing import TYPE_CHECKING

from ..events import Event, TagMoved
from ..frontend.present import Progress

if TYPE_CHECKING:
    from .live import LiveDisplay

log = logging.getLogger("oci_promote")
#: Seconds between two progress lines when stderr is not a terminal.
LINE_EVERY = 3.0


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
        if quiet or not sys.stderr.isatty():
            return cls(show=not quiet)
        from .live import LiveDisplay  # rich costs a quarter second to import: only when drawn

        return cls(show=True, live=LiveDisplay.on_stderr())

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
