"""A delay line for the WAN scenario: a loopback TCP relay that forwards every byte 20 ms late.

This kernel has no netem, so latency is added in user space: each chunk read from one side
is written to the other side ``delay`` seconds after it arrived, in order, in both
directions (40 ms round trip). There is no bandwidth cap: a chunk is never held longer than
the delay (plus scheduling), however many are in flight. Every tool goes through the same
relay, one per registry. The relay runs on its own asyncio loop in a thread, so the bench
can block on the measured subprocess meanwhile.

It also notes when each HTTP request *starts* (a client-to-server chunk that begins with a
request line), which gives the request timeline of a run without touching the registry;
bodies are random gzip data, so a false match is not a practical concern.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

_REQUEST_LINE = re.compile(rb"^(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP/1\.[01]\r\n")
_CHUNK = 256 * 1024
#: Queued after the last bytes of a connection the link cuts: reset both sides there.
_RESET = b"\0reset"


class _Link:
    """Both sockets of one relayed connection, to reset them together (a cut link)."""

    def __init__(self, *writers: asyncio.StreamWriter) -> None:
        self.writers = writers
        self.cut_pending = False

    def reset(self) -> None:
        for writer in self.writers:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()


@dataclass(frozen=True)
class SeenRequest:
    """A request as the relay saw it start: monotonic time, which relay, method, path."""

    at: float
    relay: str
    method: str
    path: str


@dataclass
class Relay:
    """One listening relay in front of ``upstream`` (``host:port``), named ``name``."""

    name: str
    upstream: str
    host: str = ""
    server: asyncio.base_events.Server | None = None
    bytes_down: int = 0  # server -> client
    bytes_up: int = 0  # client -> server
    connections: int = 0
    requests: list[SeenRequest] = field(default_factory=list)
    #: When each client connection was accepted (monotonic): start-up = the first one.
    connected: list[float] = field(default_factory=list)
    #: Reset each connection once this many bytes went down (server -> client), if set.
    cut_down: int | None = None
    #: Reset each connection once this many bytes went up (client -> server), if set.
    cut_up: int | None = None
    cuts: int = 0


class DelayLine:
    """Relays with a fixed one-way ``delay``; ``add()`` starts one, ``close()`` stops all."""

    def __init__(self, delay: float = 0.020) -> None:
        self.delay = delay
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="delay-line", daemon=True)
        self._thread.start()

    def _call(self, coro: object) -> object:
        future: Future[object] = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        return future.result(timeout=30)

    def add(
        self, name: str, upstream: str, *, cut_down: int | None = None, cut_up: int | None = None
    ) -> Relay:
        """A relay to `upstream`; with `cut_down`/`cut_up`, a link that resets every connection
        after that many bytes in that direction (the 'flaky link' scenarios)."""
        relay = Relay(name, upstream, cut_down=cut_down, cut_up=cut_up)
        self._call(self._listen(relay))
        return relay

    def remove(self, relay: Relay) -> None:
        if relay.server is not None:
            self._call(self._stop(relay.server))
            relay.server = None

    def close(self) -> None:
        """Drop every connection still open, then stop the loop and its thread."""
        self._call(self._cancel_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @staticmethod
    async def _cancel_all() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _stop(self, server: asyncio.base_events.Server) -> None:
        server.close()
        await server.wait_closed()

    async def _listen(self, relay: Relay) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            relay.connections += 1
            relay.connected.append(time.monotonic())
            host, port = relay.upstream.rsplit(":", 1)
            try:
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
            except OSError:
                writer.close()
                return
            link = _Link(writer, up_writer)
            try:
                await asyncio.gather(
                    self._pump(reader, up_writer, relay, link, upstream=True),
                    self._pump(up_reader, writer, relay, link, upstream=False),
                    return_exceptions=True,
                )
            except asyncio.CancelledError:
                pass  # close(): the bench is done with this relay
            finally:
                for side in (writer, up_writer):
                    side.close()

        relay.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = relay.server.sockets[0].getsockname()[1]
        relay.host = f"127.0.0.1:{port}"

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        relay: Relay,
        link: _Link,
        *,
        upstream: bool,
    ) -> None:
        """Read chunks as they come; a second task writes each one ``delay`` after its arrival."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._send(queue, writer, link))
        cut = relay.cut_up if upstream else relay.cut_down
        passed = 0
        try:
            while True:
                chunk = await reader.read(_CHUNK)
                if cut is not None and passed + len(chunk) > cut:
                    chunk = chunk[: cut - passed]
                    link.cut_pending = True
                    relay.cuts += 1
                passed += len(chunk)
                now = time.monotonic()
                if upstream and chunk:
                    match = _REQUEST_LINE.match(chunk)
                    if match:
                        relay.requests.append(
                            SeenRequest(now, relay.name, match[1].decode(), match[2].decode(errors="replace"))
                        )
                await queue.put((now + self.delay, chunk))
                if link.cut_pending:
                    await queue.put((now + self.delay, _RESET))
                    break
                if not chunk:
                    break
                if upstream:
                    relay.bytes_up += len(chunk)
                else:
                    relay.bytes_down += len(chunk)
        except OSError:
            await queue.put((0.0, b""))
        await sender

    @staticmethod
    async def _send(
        queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        try:
            while True:
                due, chunk = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if chunk is _RESET:
                    link.reset()
                    break
                if not chunk:
                    if writer.can_write_eof() and not writer.is_closing():
                        writer.write_eof()  # half-close: the other direction may still flow
                    break
                writer.write(chunk)
                await writer.drain()
        except OSError:
            pass  # the peer went away; the reading side sees it too
