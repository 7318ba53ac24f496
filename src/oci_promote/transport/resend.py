"""The body of a resumable upload: bytes held to resend, and the source read again past them.

Used by :mod:`.upload` for blobs over `STREAM_ABOVE`; see there for when bytes are held
and for how long.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable

from ..errors import PromoteError
from ..types.body import BodyFactory, close_body


class ResendWindow:
    """The body of a resumable upload, pulled from the source once, with bytes held to resend.

    Pieces are held by reference (no copy): the last `keep` bytes of a streamed PATCH, or
    every byte of an acknowledged one until `release` says the session has it. An offset
    behind what is held is reached by reading the source again (`rewind`).
    """

    def __init__(self, body: AsyncIterator[bytes], reopen: BodyFactory) -> None:
        self._body = body
        self._reopen = reopen
        self._held: deque[tuple[int, bytes]] = deque()  # (offset, piece), oldest first
        self._held_bytes = 0
        self.pulled = 0

    def holds(self, offset: int) -> bool:
        """True if sending can go on from `offset` with what is held (nothing skipped)."""
        oldest = self._held[0][0] if self._held else self.pulled
        return oldest <= offset <= self.pulled

    def release(self, offset: int) -> None:
        """The session holds everything before `offset`: let go of the pieces wholly below it."""
        while self._held and self._held[0][0] + len(self._held[0][1]) <= offset:
            self._held_bytes -= len(self._held.popleft()[1])

    async def span(self, start: int, end: int, keep: Callable[[], int] | None) -> AsyncIterator[bytes]:
        """Bytes [start, end): held ones first, then new ones from the source, held in turn
        (the last `keep()` of them, asked at each piece, or all until released if None)."""
        for offset, piece in list(self._held):
            if offset + len(piece) > start and offset < end:
                whole = start <= offset and offset + len(piece) <= end
                yield piece if whole else piece[max(0, start - offset) : end - offset]
        while self.pulled < end:
            offset, piece = self.pulled, await self._pull()
            self._held.append((offset, piece))
            self._held_bytes += len(piece)
            while keep is not None and self._held_bytes - len(self._held[0][1]) >= keep():
                self._held_bytes -= len(self._held.popleft()[1])
            yield piece[: end - offset] if self.pulled > end else piece

    async def rewind(self, offset: int) -> None:
        """Read a fresh source stream up to `offset` (its bytes still pass its digest check)."""
        await close_body(self._body)
        self._body, self._held, self._held_bytes, self.pulled = self._reopen(), deque(), 0, 0
        while self.pulled < offset:
            start, piece = self.pulled, await self._pull()
            if self.pulled > offset:
                self._held.append((offset, piece[offset - start :]))
                self._held_bytes = self.pulled - offset

    async def _pull(self) -> bytes:
        try:
            piece = await anext(self._body)
        except StopAsyncIteration:
            raise PromoteError("the blob stream ended before its declared size") from None
        self.pulled += len(piece)
        return piece

    async def finish(self) -> None:
        """Run the body to its end (where it checks size and digest); it must have no more bytes."""
        async for _ in self._body:
            raise PromoteError("the blob stream went on past its declared size")

    async def close(self) -> None:
        """Let go of the source stream and of the bytes held (a new attempt may follow)."""
        self._held.clear()
        await close_body(self._body)
