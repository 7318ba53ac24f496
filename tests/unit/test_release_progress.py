"""The release's progress lines (CLI and Action): a row per entry when few, every tenth when many."""

from __future__ import annotations

import logging

import pytest

from oci_promote.frontend.present import StageProgressLog
from oci_promote.release import ReleaseProgress


def _rows(caplog: pytest.LogCaptureFixture, total: int) -> list[str]:
    progress = StageProgressLog()
    with caplog.at_level(logging.INFO, logger="oci_promote"):
        for done in range(1, total + 1):
            progress(
                ReleaseProgress("stage", done, total, done * 1024, total * 1024, f"#{done} src/app:{done}")
            )
    return [r.getMessage() for r in caplog.records]


def test_few_entries_get_one_row_each(caplog: pytest.LogCaptureFixture) -> None:
    rows = _rows(caplog, 3)
    assert rows == [f"[{n}/3] staged #{n} src/app:{n} ({n}.0 KiB of 3.0 KiB sent)" for n in (1, 2, 3)]


def test_many_entries_get_a_summary_row_every_tenth(caplog: pytest.LogCaptureFixture) -> None:
    rows = _rows(caplog, 200)
    assert len(rows) == 10
    assert rows[-1] == "staged 200/200 entries, 200.0 KiB of 200.0 KiB sent"
