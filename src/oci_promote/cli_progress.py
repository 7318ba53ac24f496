"""Progress of a CLI copy, from the engine's events: a line every few seconds on stderr.

The counting is `present.Progress` (shared with the Action); this module only
decides when to show it. It also remembers which tags moved, so a failure or an
interrupt can say so (`--json`'s `tags_moved`).
"""

from __future__ import annotations

import logging
import time
from types import TracebackType

from .events import Event, TagMoved
from .present import Progress

log = logging.getLogger("oci_promote")
#: Seconds between two progress lines.
LINE_EVERY = 3.0


class Observer:
    """The copy's event callback: counts progress, logs it now and then, records moved tags."""

    def __init__(self, *, show: bool, every: float = LINE_EVERY) -> None:
        self.progress = Progress()
        self.tags_moved: list[str] = []
        self._show = show
        self._every = every
        self._started = time.monotonic()
        self._last = self._started

    @classmethod
    def for_stderr(cls, *, quiet: bool) -> Observer:
        return cls(show=not quiet)

    def __call__(self, event: Event) -> None:
        self.progress(event)
        if isinstance(event, TagMoved):
            self.tags_moved.append(event.destination)
        if not self._show:
            return
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            line = self.progress.line(now - self._started)
            if line is not None:
                log.info("%s", line)

    def __enter__(self) -> Observer:
        self._started = self._last = time.monotonic()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None
