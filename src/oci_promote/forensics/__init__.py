"""Forensics: why two digests differ (`diff`), and whether deployments hold a digest (`verify`).

The core is one call: `await explain(reader_a, reader_b)` returns a
`Comparison` (both digests and media types, `identical`, `causes`), and
`headline(comparison)` is its one-line human answer. A reader is one image in a
storage (`SourceReader(Source(...))`); the library's `oci_promote.diff` and
`oci_promote.verify` open them from references.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..causes import CODES, Cause, Comparison, Side
from ..lazy import lazy_exports

# Eager: `render` is also the name of its module, which an import of `.render` elsewhere
# would otherwise leave as the package's attribute (and it loads nothing but `causes`).
from .render import describe_cause, headline, render

# The rest is imported on first use (PEP 562): a copy reads `reader` alone, and compare
# and verify load only when a digest mismatch is explained, or for diff/verify.
if TYPE_CHECKING:
    from .compare import explain
    from .reader import DEFAULT_LIMITS, Limits, SourceReader
    from .verify import VerifyOutcome, verify_all, verify_one

_HOMES: dict[str, tuple[str, ...]] = {
    "compare": ("explain",),
    "reader": ("DEFAULT_LIMITS", "Limits", "SourceReader"),
    "verify": ("VerifyOutcome", "verify_all", "verify_one"),
}
__getattr__ = lazy_exports(__name__, _HOMES)


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
