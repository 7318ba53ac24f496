"""`oci-promote`: the command line entry point, kept free of heavy imports.

Exit status: 0 success, 1 a failed copy or a mismatch, 2 bad usage or input,
130 interrupted (SIGINT), 143 terminated (SIGTERM). An expected failure is one
line, never a traceback: Ctrl-C or SIGTERM during start-up (importing httpx takes
a while) included, which is why this module imports only the
standard library until the signal handlers are in place.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from ..lazy import skip_httpx_cli
from .signals import EXIT_CODES, Interrupted, interrupted_line, raise_interrupted


def main(argv: Sequence[str] | None = None) -> int:
    # SIGTERM (how CI runners cancel a job) must read like Ctrl-C from the first instant.
    for each in EXIT_CODES:
        signal.signal(each, raise_interrupted)
    skip_httpx_cli()
    try:
        from .run import run

        return run(argv)
    except KeyboardInterrupt as e:
        signum: int = e.signum if isinstance(e, Interrupted) else signal.SIGINT
        print(interrupted_line(signum), file=sys.stderr)
        return EXIT_CODES.get(signal.Signals(signum), 130)


if __name__ == "__main__":
    sys.exit(main())
