"""Forensics: why two digests differ (`diff`), and whether deployments hold a digest (`verify`).

The core is one call: `await explain(reader_a, reader_b)` returns a
`Comparison` (both digests and media types, `identical`, `causes`), and
`headline(comparison)` is its one-line human answer. Readers come from
`open_reader(text, registries)`.
"""

from __future__ import annotations

from .causes import CODES, Cause, Comparison, Side
from .compare import explain
from .reader import DEFAULT_LIMITS, Limits, SourceReader, TreeReader, open_reader
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
    "TreeReader",
    "VerifyOutcome",
    "describe_cause",
    "explain",
    "headline",
    "open_reader",
    "render",
    "verify_all",
    "verify_one",
]
