"""The CLI turns the cyclic GC off while it starts (imports allocate much and free little),
and on again before the work: a long copy must still collect its cycles."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from oci_promote import api
from oci_promote.cli.run import run
from oci_promote.errors import PromoteError
from oci_promote.options import CopyOptions


def test_the_copy_runs_with_the_gc_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[bool] = []

    async def copy_async(options: CopyOptions, *, on_event: object = None) -> None:
        seen.append(gc.isenabled())
        raise PromoteError("stopped here")

    monkeypatch.setattr(api, "copy_async", copy_async)
    assert run(["copy", "-q", f"oci:{tmp_path}/a:1", f"oci:{tmp_path}/b:1"]) == 1
    assert seen == [True] and gc.isenabled()


def test_an_early_exit_leaves_the_gc_on() -> None:
    with pytest.raises(SystemExit):
        run(["--version"])
    assert gc.isenabled()
    assert run(["copy", "-q"]) == 2  # no source: a usage error, before the settings are read
    assert gc.isenabled()
