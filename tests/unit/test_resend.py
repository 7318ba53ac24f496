"""The resend window of a resumable upload: which bytes a span yields, what stays held, and
how a rewind reaches an offset behind them (the upload itself is tested against real
registries in tests/integration/test_resume.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from oci_promote.errors import PromoteError
from oci_promote.transport.resend import ResendWindow

#: Uneven pieces, as a registry's or a layout's reads may come.
PIECES = [bytes([n]) * size for n, size in enumerate([5, 3, 7, 1, 4, 6])]
BLOB = b"".join(PIECES)


def _source(pieces: list[bytes] = PIECES) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    return gen()


async def _span(window: ResendWindow, start: int, end: int, keep: int | None) -> bytes:
    return b"".join([piece async for piece in window.span(start, end, (lambda: keep) if keep else None)])


def test_spans_yield_exactly_their_bytes_and_acknowledged_ones_hold_until_released() -> None:
    async def main() -> None:
        window = ResendWindow(_source(), _source)
        assert await _span(window, 0, 6, None) == BLOB[:6]  # ends inside the second piece
        assert await _span(window, 6, 14, None) == BLOB[6:14]  # starts inside a held piece
        assert window.holds(0) and window.holds(window.pulled)
        window.release(8)
        assert not window.holds(4) and window.holds(8)  # the piece holding byte 8 stays
        assert await _span(window, 9, 26, None) == BLOB[9:]  # resumed inside what is held
        await window.finish()

    anyio.run(main)


def test_a_streamed_span_keeps_at_least_its_last_keep_bytes() -> None:
    async def main() -> None:
        window = ResendWindow(_source(), _source)
        assert await _span(window, 0, len(BLOB), 5) == BLOB
        assert window.holds(len(BLOB) - 5) and not window.holds(0)
        assert await _span(window, len(BLOB) - 5, len(BLOB), 5) == BLOB[-5:]

    anyio.run(main)


def test_a_rewind_reads_a_fresh_source_up_to_an_offset_inside_a_piece() -> None:
    async def main() -> None:
        opened: list[int] = []

        def reopen() -> AsyncIterator[bytes]:
            opened.append(1)
            return _source()

        window = ResendWindow(_source(), reopen)
        assert await _span(window, 0, 20, 2) == BLOB[:20]
        assert not window.holds(10)
        await window.rewind(10)
        assert opened == [1] and window.holds(10)
        assert await _span(window, 10, 26, None) == BLOB[10:]
        await window.finish()

    anyio.run(main)


def test_a_body_shorter_or_longer_than_declared_is_an_error() -> None:
    async def short() -> None:
        window = ResendWindow(_source(PIECES[:2]), _source)
        await _span(window, 0, len(BLOB), None)

    async def longer() -> None:
        window = ResendWindow(_source(), _source)
        await _span(window, 0, 20, None)
        await window.finish()

    with pytest.raises(PromoteError, match="ended before"):
        anyio.run(short)
    with pytest.raises(PromoteError, match="went on past"):
        anyio.run(longer)
