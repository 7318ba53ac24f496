"""Forensics: why two digests differ (`diff`), and whether deployments hold a digest (`verify`).

The core is one call: `await explain(reader_a, reader_b)` returns a
`Comparison` (both digests and media types, `identical`, `causes`), and
`headline(comparison)` is its one-line human answer. A reader is one image in a
storage (`SourceReader(Source(...))`); the library's `oci_promote.diff` and
`oci_promote.verify` open them from references.
"""

from __future__ import annotations

from ..causes import CODES, Cause, Comparison, Side
from .compare import explain
from .reader import DEFAULT_LIMITS, Limits, SourceReader
from .render import describe_cause, headline, render
from .verify import VerifyOutcome, verify_all, verify_one

__all__ = [
    "CODES",
    "DEFAULT_LIMITS",
    "Cause",
    "Comparison",
    "Limits",
    "Side",
    "SourceReader",
    "VerifyOutcome",
    "describe_cause",
    "explain",
    "headline",
    "render",
    "verify_all",
    "verify_one",
]
