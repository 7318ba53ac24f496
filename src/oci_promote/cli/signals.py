"""SIGINT and SIGTERM as exit statuses: standard library only, so `cli.main` can install
the handlers before anything heavy is imported, and `cli.run` can use them without
importing `cli.main` back."""

from __future__ import annotations

import signal
from types import FrameType

#: Exit status for each signal we stop on, as shells report them (128 + signal number).
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; carries which, so the exit status can say it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(signal.Signals(self.signum), 128 + self.signum)


def raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def interrupted_line(signum: int) -> str:
    return f"oci-promote: interrupted by {signal.Signals(signum).name}"
