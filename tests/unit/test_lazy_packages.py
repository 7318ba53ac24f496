"""The packages that load their names on first use (PEP 562) still give every exported name,
whatever was imported before: a submodule named like one of its package's exports would
otherwise be left as the package's attribute by its own import."""

from __future__ import annotations

import subprocess
import sys

import pytest

LAZY = ("oci_promote", "oci_promote.forensics", "oci_promote.referrers")

_CHECK = """
import importlib, pkgutil, sys, types
package = importlib.import_module(sys.argv[1])
if sys.argv[2] == "submodules-first":
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.endswith("__main__") and ".action" not in info.name and ".cli" not in info.name:
            importlib.import_module(info.name)
wrong = [n for n in package.__all__ if isinstance(getattr(package, n), types.ModuleType)]
missing = [n for n in package.__all__ if n not in dir(package)]
print(wrong, missing)
"""


@pytest.mark.parametrize("order", ["names-first", "submodules-first"])
@pytest.mark.parametrize("package", LAZY)
def test_every_exported_name_is_the_name_not_a_module(package: str, order: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHECK, package, order], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[] []", done.stdout
