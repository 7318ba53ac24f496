"""Read a blob from the source once and stream it to every destination that copies it.

A copy to N registries used to read each blob N times. Here one producer reads
the source (size and digest checked as the bytes pass) and feeds each
destination's upload through its own bounded buffer of a few chunks, so:

- the source GET starts at once, while the destinations still open their upload
  sessions, and source reads overlap destination writes (also for one destination);
- memory stays bounded: a slow destination holds the producer back (and with it
  the others) instead of making the process buffer the blob;
- end of stream reaches a destination only after the source's size and digest
  check passed; a source that fails or does not match raises in every upload
  still reading, before any of them can commit;
- a destination that leaves (it mounted the blob, found it there, or failed)
  stops taking bytes at once, so it never blocks the others, and when every
  destination has left the producer stops reading.

Chunks are shared between the destinations (bytes are immutable), never copied.
A blob up to `REPLAY_BYTES` is also kept whole while it passes, so an upload
that starts over replays it instead of reading the source again: on a flaky
source that read could fail too, and small blobs are most of an image's count.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..concurrency import run_all
from ..errors import PromoteError
from ..storage import BodyFactory
from ..types.body import close_body

log = logging.getLogger("oci_promote")

#: Chunks each destination may lag behind the producer: 4 MiB of a registry's or a layout's
#: 1 MiB reads (transport.READ_SIZE); never the blob.
BUFFER_CHUNKS = 4
#: Blobs up to this size are kept in memory for a retried upload (at most `jobs` of them at once).
REPLAY_BYTES = 1024 * 1024
#: How long closing the source stream may take on the way out, even while being cancelled.
CLOSE_SECONDS = 5.0


@dataclass(frozen=True)
class Consumer:
    """One destination's side of a fan-out."""

    #: Stores the blob from the body factory it is given (a `put_blob` and its bookkeeping).
    upload: Callable[[BodyFactory], Awaitable[None]]
    #: A fresh, verified source stream of the blob, for an upload that asks for its body again.
    reread: BodyFactory
    #: Told the bytes handed to this destination so far, as they pass.
    report: Callable[[int], None]


async def fan_out(
    open_source: BodyFactory,
    consumers: Sequence[Consumer],
    *,
    buffer: int = BUFFER_CHUNKS,
    size: int | None = None,
) -> None:
    """Run every consumer's upload on one read of `open_source` (of `size` bytes, if known);
    the first error wins and cancels the rest (`run_all`), the producer included."""
    tee = BlobTee(open_source, len(consumers), buffer, size)
    await run_all([tee.pump, *(partial(_consume, tee, i, c) for i, c in enumerate(consumers))])


async def _consume(tee: BlobTee, index: int, consumer: Consumer) -> None:
    try:
        await consumer.upload(tee.body(index, consumer.reread, consumer.report))
    finally:
        tee.detach(index)


class BlobTee:
    """One source stream, read by `pump`, handed to `readers` bodies through bounded buffers.

    Start `pump` at once; give reader i `body(i, ...)`; call `detach(i)` when its upload is
    over (returned, failed or cancelled), whether or not it read anything.
    """

    def __init__(
        self, open_source: BodyFactory, readers: int, buffer: int = BUFFER_CHUNKS, size: int | None = None
    ) -> None:
        streams = [anyio.create_memory_object_stream[bytes](buffer) for _ in range(readers)]
        self._sends: list[MemoryObjectSendStream[bytes]] = [s for s, _ in streams]
        self._receives: list[MemoryObjectReceiveStream[bytes]] = [r for _, r in streams]
        self._opened = [False] * readers
        self._left: set[int] = set()
        self._open_source = open_source
        self._stop = anyio.CancelScope()
        #: Set once the source stream ended and passed its size and digest check.
        self._verified = False
        self._error: Exception | None = None
        #: The whole blob, for a small one: read to its end even if every reader left.
        self._kept: list[bytes] | None = [] if size is not None and size <= REPLAY_BYTES else None
        self._done = anyio.Event()

    async def pump(self) -> None:
        """Read the source once, handing each chunk to every reader still there."""
        source = self._open_source()
        try:
            with self._stop:
                await self._feed(source)
        finally:
            for send in self._sends:
                send.close()
            self._done.set()
            await _close(source)

    async def _feed(self, source: AsyncIterator[bytes]) -> None:
        live = list(range(len(self._sends)))
        try:
            async for chunk in source:
                if self._kept is not None:
                    self._kept.append(chunk)
                for index in list(live):
                    try:
                        await self._sends[index].send(chunk)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        live.remove(index)  # that reader left: the others go on
                if not live and self._kept is None:
                    return
            self._verified = True
        except Exception as e:
            # The readers raise it (each at its end of stream), so the error is named with
            # the destination it stopped; the producer itself ends quietly.
            self._error = e

    def body(self, index: int, reread: BodyFactory, report: Callable[[int], None]) -> BodyFactory:
        """Reader `index`'s body factory: the shared stream the first time it is called.

        The shared stream cannot be replayed, so a second call (an upload retried from a
        new session, or switched from monolithic to chunked) leaves the fan-out and reads
        the source again on its own with `reread`: the fault path costs one more source read
        for that destination only.
        """

        def open_body() -> AsyncIterator[bytes]:
            if self._opened[index]:
                self.detach(index)
                return self._replay(report) if self._kept is not None else reread()
            self._opened[index] = True
            return self._read(index, report)

        return open_body

    async def _read(self, index: int, report: Callable[[int], None]) -> AsyncIterator[bytes]:
        receive = self._receives[index]
        sent = 0
        report(sent)
        try:
            async for chunk in receive:
                sent += len(chunk)
                report(sent)
                yield chunk
        except anyio.ClosedResourceError:
            # left meanwhile (its upload asked for a new body): never end it as if complete
            raise PromoteError("an abandoned upload read on from the shared source stream") from None
        finally:
            self.detach(index)
        if self._error is not None:
            raise self._error
        if not self._verified:
            raise PromoteError("the shared source stream stopped before the end of the blob")

    async def _replay(self, report: Callable[[int], None]) -> AsyncIterator[bytes]:
        """The kept blob, once the shared read has ended and passed its checks."""
        await self._done.wait()
        if self._error is not None:
            raise self._error
        if not self._verified or self._kept is None:
            raise PromoteError("the shared source stream stopped before the end of the blob")
        sent = 0
        for chunk in self._kept:
            sent += len(chunk)
            report(sent)
            yield chunk

    def detach(self, index: int) -> None:
        """Reader `index` takes no more bytes; once every reader has left, stop reading."""
        self._receives[index].close()
        self._left.add(index)
        if len(self._left) == len(self._receives) and self._kept is None:
            self._stop.cancel()


async def _close(source: AsyncIterator[bytes]) -> None:
    """Release the source stream (its connection) now, even while being cancelled; a failure
    to close changes nothing the readers got, so it is only logged."""
    with anyio.move_on_after(CLOSE_SECONDS, shield=True):
        try:
            await close_body(source)
        except Exception as e:
            log.debug("closing a source stream failed: %s", e)
