"""Argument parsing that keeps `--json`'s promise: a usage error is a JSON object on stdout too."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from collections.abc import Callable


def parse_args(parse: Callable[[list[str]], argparse.Namespace], argv: list[str]) -> argparse.Namespace:
    """`parse(argv)`; when it refuses the arguments and `--json` was asked for,
    also print `{"error", "exit_code"}` on stdout (for copy with `destination` and
    `tags_moved`), as a failed run does."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            return parse(argv)
    except SystemExit as e:
        text = said.getvalue()
        sys.stderr.write(text)
        if e.code not in (0, None) and "--json" in argv:
            lines = text.strip().splitlines()
            error = lines[-1].partition(": error: ")[2] if lines else "invalid arguments"
            code = e.code if isinstance(e.code, int) else 2
            report: dict[str, object] = {"error": error, "exit_code": code}
            if "copy" in argv:  # the fields of a failed copy
                report |= {"destination": None, "tags_moved": []}
            print(json.dumps(report, indent=2))
        raise
