"""Names a package exports but imports on first use (PEP 562), so importing it stays cheap.

The package itself (`oci_promote`, whose CLI must meet its signal handlers with the
standard library alone), the forensics (a copy reads only `reader`) and the referrers
(most copies find none to write) use it; and `skip_httpx_cli`, for the CLI and the
Action. Standard library only.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, tuple[str, ...]]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: each name in `homes[module]` is imported from
    `package.module` when first asked for, and kept in the package from then on."""
    module_of = {name: module for module, names in homes.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


def skip_httpx_cli() -> None:
    """httpx imports its own command line (click, rich, pygments: about 50 ms) wherever click
    is installed; the CLI and the Action never run it. A None entry in `sys.modules` makes
    that import fail at once, which httpx takes for "not installed"."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
