"""Forensics: why two digests differ (`diff`), and whether deployments hold a digest (`verify`).

The core is one call: `await explain(reader_a, reader_b)` returns a
`Comparison` (both digests and media types, `identical`, `causes`), and
`headline(comparison)` is its one-line human answer. A reader is one image in a
storage (`SourceReader(Source(...))`); the library's `oci_promote.diff` and
`oci_promote.verify` open them from references.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..causes import CODES, Cause, Comparison, Side

# Eager: `render` is also the name of its module, which an import of `.render` elsewhere
# would otherwise leave as the package's attribute (and it loads nothing but `causes`).
from .render import describe_cause, headline, render

# The rest is imported on first use (PEP 562): a copy reads `reader` alone, and compare
# and verify load only when a digest mismatch is explained, or for diff/verify.
if TYPE_CHECKING:
    from .compare import explain
    from .reader import DEFAULT_LIMITS, Limits, SourceReader
    from .verify import VerifyOutcome, verify_all, verify_one

_HOMES = {
    "compare": ("explain",),
    "reader": ("DEFAULT_LIMITS", "Limits", "SourceReader"),
    "verify": ("VerifyOutcome", "verify_all", "verify_one"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


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
