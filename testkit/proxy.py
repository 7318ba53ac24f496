"""A fault-injecting HTTP/1.1 reverse proxy to put in front of a real registry.

Why a proxy and not a fake registry: the registry behaviour under test stays the real CNCF
distribution; only what *other* registries or a bad network do differently is injected here
(see :mod:`testkit.quirks`).

The proxy runs its own asyncio loop in a background thread, so synchronous pytest tests
(and the code under test, whatever its concurrency) can use it. For every request a
:data:`Handler` sees a :class:`RequestView` and returns an action:

* :class:`Forward` -- pass it to the registry, optionally rewriting the response status and
  headers and throttling either body;
* :class:`Respond` -- answer without contacting the registry (the request body is drained);
* :class:`Reset` -- RST the client connection before answering, or after N bytes of the
  upload or download body;
* :class:`Stall` -- hold the request without answering, then close;
* :class:`Truncate` -- forward the response headers unchanged (Content-Length included),
  send N body bytes, then close.

Bodies are streamed both ways (never held whole), request bodies may use Content-Length or
chunked encoding, client connections are kept alive, and each client connection gets its
own upstream connection. The client's ``Host`` header is forwarded unchanged -- it names the
proxy -- so the absolute ``Location`` URLs distribution builds from it point back at the
proxy; any ``Location`` naming the upstream is rewritten as well. Every exchange is recorded
as an :class:`Exchange`.

Also here: :class:`RecordingServer`, a tiny HTTP server that records the headers it gets and
serves bytes, standing in for the CDN a registry redirects blob downloads to.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http
import random
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import h11

from .http_thread import LoopbackHTTPServer

_READ_SIZE = 64 * 1024
# Per-connection headers a proxy must not forward (RFC 9110 7.6.1). Expect is answered here.
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade", b"expect"}
)

Headers = list[tuple[str, str]]
#: ``(status, headers) -> (status, headers)``; headers keep their order and original case.
ResponseRewrite = Callable[[int, Headers], tuple[int, Headers]]


def _lower_dict(pairs: Any) -> dict[str, str]:
    """Header pairs (str or bytes) as a dict with lower-case keys; repeats joined by ", "."""
    out: dict[str, str] = {}
    for name, value in pairs:
        key = (name.decode("latin-1") if isinstance(name, bytes) else name).lower()
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


@dataclass(frozen=True)
class RequestView:
    """What a handler may base its decision on; ``rng`` is the proxy's seeded generator."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    index: int
    rng: random.Random

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None else None

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def has_body(self) -> bool:
        """True for a chunked body too, whose length is unknown up front."""
        return self.chunked or (self.content_length or 0) > 0


@dataclass(frozen=True)
class Forward:
    """Pass the request to the registry; ``*_bytes_per_s`` slow the request/response body."""

    rewrite_response: ResponseRewrite | None = None
    request_bytes_per_s: float | None = None
    response_bytes_per_s: float | None = None
    label: str = ""


@dataclass(frozen=True)
class Respond:
    """Answer without contacting the registry; Content-Length is added unless given."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    label: str = ""


@dataclass(frozen=True)
class Reset:
    """RST the client connection: at once, or after N request/response body bytes.

    A body that ends before N bytes is cut before its last byte instead (at its end for
    chunked bodies), so the client never sees a complete message. The upstream connection
    is dropped too, so the registry sees the upload break off. ``lost_in_flight``: past
    the request cut, that many more body bytes are taken from the client and dropped
    before the reset, as the buffers of a link that dies with them would. ``late_bytes``:
    instead, that many are taken and reach the registry ``late_seconds`` after the client
    was reset, as bytes a server had buffered when the client saw the link die.
    """

    after_request_bytes: int | None = None
    after_response_bytes: int | None = None
    label: str = ""
    lost_in_flight: int = 0
    late_bytes: int = 0
    late_seconds: float = 0.1


@dataclass(frozen=True)
class Stall:
    """Hold the request for ``seconds`` without answering, then close the connection."""

    seconds: float
    label: str = ""


@dataclass(frozen=True)
class Truncate:
    """Forward, send the upstream headers unchanged but only ``after_bytes`` of the body
    (at most Content-Length - 1), then close cleanly: the client sees a short body."""

    after_bytes: int
    label: str = ""


Action = Forward | Respond | Reset | Stall | Truncate
Handler = Callable[[RequestView], Action]


def _kind(action: Action) -> str:
    if isinstance(action, Respond) and 300 <= action.status < 400:
        return "redirect"
    return type(action).__name__.lower()


@dataclass
class Exchange:
    """One request as the proxy handled it. Counters are updated before bytes are written,
    so once a client has its response the record is final."""

    index: int
    connection: int
    method: str
    path: str
    query: str
    request_headers: dict[str, str]
    action: str = "forward"
    label: str = ""
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    request_bytes: int = 0
    response_bytes: int = 0
    error: str | None = None


class _Closed(Exception):
    """The connection was closed on purpose (reset/truncate/stall): not an error."""


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader, size: int = _READ_SIZE) -> Any:
    """The next h11 event, reading from ``reader`` as needed (b"" tells h11 about EOF)."""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(size))
            continue
        if event is h11.PAUSED:
            raise h11.RemoteProtocolError("pipelined request before the response was sent")
        return event


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with an RST (SO_LINGER 0), as a crashed peer or middlebox would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Pacer:
    """Keeps a byte stream at or below ``rate`` bytes/s; unlimited when rate is None."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.start: float | None = None
        self.sent = 0
        self.chunk = _READ_SIZE if rate is None else max(256, min(_READ_SIZE, int(rate / 20)))

    async def pace(self, n: int) -> None:
        if self.rate is None:
            return
        now = time.monotonic()
        if self.start is None:
            self.start = now
        self.sent += n
        delay = self.start + self.sent / self.rate - now
        if delay > 0:
            await asyncio.sleep(delay)


def _cut_point(limit: int | None, headers: Mapping[str, str]) -> int | None:
    """Where to cut a body: ``limit``, but never at or past the end of a known length."""
    length = headers.get("content-length")
    if limit is None or length is None or int(length) <= 0:
        return limit
    return min(limit, int(length) - 1)


class _Client:
    """The server side of one client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = h11.Connection(h11.SERVER)
        self.closed = False

    async def send(self, event: Any) -> None:
        data = self.conn.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def flush(self) -> None:
        self.writer.transport.set_write_buffer_limits(high=0)
        await self.writer.drain()

    def reset(self) -> None:
        if not self.closed:
            self.closed = True
            _rst(self.writer)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()


class _Upstream:
    """The proxy's connection to the registry, reused while both sides allow keep-alive."""

    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None) -> None:
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.conn: h11.Connection | None = None
        self.broken = False

    async def ready(self) -> None:
        """Make the connection ready for a new request, reconnecting when needed."""
        if self.conn is not None and not self.broken and self.reader is not None:
            if self.conn.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
                self.conn.start_next_cycle()
            idle = self.conn.states == {h11.CLIENT: h11.IDLE, h11.SERVER: h11.IDLE}
            if idle and not self.reader.at_eof() and self.writer and not self.writer.is_closing():
                return
        self.close()
        self.reader, self.writer = await asyncio.open_connection(
            self.host,
            self.port,
            ssl=self.ssl_context,
            server_hostname=self.host if self.ssl_context else None,
        )
        self.conn = h11.Connection(h11.CLIENT)
        self.broken = False

    async def send(self, event: Any) -> None:
        assert self.conn is not None and self.writer is not None
        data = self.conn.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def next_event(self) -> Any:
        assert self.conn is not None and self.reader is not None
        return await _next_event(self.conn, self.reader)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()
        self.reader = self.writer = self.conn = None


class Proxy:
    """Reverse proxy on ``127.0.0.1:<free port>`` in front of ``upstream_url``.

    Use ``with Proxy(registry.url, handler) as proxy:`` and point the client at
    ``proxy.url``/``proxy.host``. ``seed`` seeds the ``rng`` handlers receive.
    ``upstream_cafile`` is the CA to trust when the upstream is HTTPS (the proxy itself
    always speaks plain HTTP, and says so to the registry with ``X-Forwarded-Proto``).
    """

    def __init__(
        self,
        upstream_url: str,
        handler: Handler | None = None,
        *,
        name: str = "proxy",
        seed: int = 0,
        upstream_cafile: str | Path | None = None,
    ) -> None:
        parts = urlsplit(upstream_url)
        if parts.hostname is None or parts.scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {upstream_url!r}")
        self._tls = parts.scheme == "https"
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or (443 if self._tls else 80)
        self._upstream_base = f"{parts.scheme}://{parts.netloc}"
        self._ssl_context = (
            ssl.create_default_context(cafile=str(upstream_cafile) if upstream_cafile else None)
            if self._tls
            else None
        )
        self._handler: Handler = handler or (lambda _request: Forward())
        self.name = name
        self.rng = random.Random(seed)
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []
        self._requests = 0
        self._connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Proxy:
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._serve, "127.0.0.1", 0, limit=_READ_SIZE)
                )
                self._port = int(self._server.sockets[0].getsockname()[1])
            except BaseException as exc:
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        started.wait(10)
        if failure or self._port is None:
            self.stop()
            raise RuntimeError(f"{self.name} failed to start") from (failure[0] if failure else None)
        return self

    def stop(self) -> None:
        """Close the listener and every connection (stalled ones included); idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._loop = self._thread = self._server = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- public state ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._port is not None, f"{self.name} not started"
        return self._port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def set_handler(self, handler: Handler | None) -> None:
        self._handler = handler or (lambda _request: Forward())

    def exchanges(self) -> list[Exchange]:
        """A snapshot of the exchanges so far, oldest first."""
        with self._lock:
            return [dataclasses.replace(e) for e in self._exchanges]

    def clear(self) -> None:
        with self._lock:
            self._exchanges.clear()

    @property
    def connections(self) -> int:
        """Client connections accepted so far, including those that never sent a request."""
        with self._lock:
            return self._connections

    # -- serving ---------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        with self._lock:
            self._connections += 1
            connection = self._connections
        client = _Client(reader, writer)
        upstream = _Upstream(self._upstream_host, self._upstream_port, self._ssl_context)
        try:
            while not client.closed:
                event = await _next_event(client.conn, reader)
                if not isinstance(event, h11.Request):
                    break
                keep_alive = await self._exchange(event, connection, client, upstream)
                if not keep_alive or client.conn.states != {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
                    break
                client.conn.start_next_cycle()
        except h11.RemoteProtocolError:
            # As Go's net/http and most servers do with bytes that are not HTTP (a TLS
            # ClientHello, say): answer 400 and close, so the client sees a plain-HTTP port.
            with contextlib.suppress(Exception):
                if client.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await client.send(h11.Response(status_code=400, headers=[("Connection", "close")]))
                    await client.send(h11.EndOfMessage())
        except (OSError, h11.ProtocolError, _Closed, asyncio.CancelledError):
            pass
        finally:
            upstream.close()
            client.close()
            self._tasks.discard(task)

    async def _exchange(
        self, request: h11.Request, connection: int, client: _Client, upstream: _Upstream
    ) -> bool:
        """Handle one request; True when the client connection may be reused."""
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        headers = _lower_dict(request.headers.raw_items())
        with self._lock:
            index = self._requests
            self._requests += 1
            ex = Exchange(index, connection, request.method.decode("ascii"), path, query, headers)
            self._exchanges.append(ex)
        view = RequestView(ex.method, path, query, dict(headers), index, self.rng)
        try:
            action = self._handler(view)
        except Exception as exc:  # a broken handler must show up, not hang the client
            ex.error = f"handler raised {exc!r}"
            action = Respond(500, {"Content-Type": "text/plain"}, ex.error.encode())
        ex.action, ex.label = _kind(action), action.label
        try:
            if isinstance(action, Respond):
                return await self._respond(action, client, ex)
            if isinstance(action, Stall):
                await asyncio.sleep(action.seconds)
                client.close()
                return False
            if isinstance(action, Reset) and (
                action.after_request_bytes is None and action.after_response_bytes is None
            ):
                client.reset()
                return False
            return await self._forward(request, action, client, upstream, ex)
        except _Closed:
            return False
        except Exception as exc:
            ex.error = ex.error or repr(exc)
            client.reset()
            upstream.close()
            return False

    async def _respond(self, action: Respond, client: _Client, ex: Exchange) -> bool:
        keep_alive = not client.conn.they_are_waiting_for_100_continue
        while keep_alive:  # drain the request body so the connection stays usable
            event = await _next_event(client.conn, client.reader)
            if isinstance(event, h11.EndOfMessage):
                break
            if not isinstance(event, h11.Data):
                raise h11.RemoteProtocolError(f"unexpected {event!r} in request body")
            ex.request_bytes += len(event.data)
        headers = dict(action.headers)
        if not any(k.lower() in ("content-length", "transfer-encoding") for k in headers):
            headers["Content-Length"] = str(len(action.body))
        if not keep_alive:
            headers["Connection"] = "close"
        ex.status, ex.response_headers = action.status, _lower_dict(headers.items())
        body = memoryview(action.body if ex.method != "HEAD" else b"")
        await client.send(
            h11.Response(
                status_code=action.status, headers=list(headers.items()), reason=_reason(action.status)
            )
        )
        # In pieces, each counted before it is written, and written only as fast as the client
        # reads: `response_bytes` then tells a client that stops early from one that reads all.
        for start in range(0, len(body), _READ_SIZE):
            piece = body[start : start + _READ_SIZE]
            ex.response_bytes += len(piece)
            await client.send(h11.Data(data=piece))
        await client.send(h11.EndOfMessage())
        return keep_alive

    async def _forward(
        self,
        request: h11.Request,
        action: Forward | Reset | Truncate,
        client: _Client,
        upstream: _Upstream,
        ex: Exchange,
    ) -> bool:
        try:
            await upstream.ready()
        except OSError as exc:
            ex.error = f"upstream unreachable: {exc!r}"
            return await self._respond(Respond(502, body=b"upstream unreachable"), client, ex)
        headers = [(k, v) for k, v in request.headers.raw_items() if k.lower() not in _HOP_BY_HOP]
        if self._tls:
            headers.append((b"X-Forwarded-Proto", b"http"))
        if client.conn.they_are_waiting_for_100_continue:
            await client.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue"))
        await upstream.send(h11.Request(method=request.method, target=request.target, headers=headers))
        forward = action if isinstance(action, Forward) else Forward()
        reset = action if isinstance(action, Reset) else None
        pump = asyncio.create_task(self._pump(client, upstream, ex, forward.request_bytes_per_s, reset))
        try:
            await self._relay(client, upstream, ex, action, forward)
            await pump  # the rest of the request body, if the registry answered early
        except BaseException as exc:
            if not isinstance(exc, (_Closed, asyncio.CancelledError)):
                await asyncio.wait({pump}, timeout=1)  # did a reset in the pump cause this?
            pump.cancel()
            with contextlib.suppress(BaseException):
                await pump
            if pump.done() and not pump.cancelled() and isinstance(pump.exception(), _Closed):
                raise _Closed from None  # the reset fired mid-upload: that was the point
            raise
        if upstream.broken:
            upstream.close()
        return True

    async def _pump(
        self,
        client: _Client,
        upstream: _Upstream,
        ex: Exchange,
        rate: float | None,
        reset: Reset | None,
    ) -> None:
        """Copy the request body to the registry (cut as `reset` says); keep draining it if the
        registry hung up."""
        pacer = _Pacer(rate)
        cut = _cut_point(reset.after_request_bytes if reset else None, ex.request_headers)
        try:
            while True:
                event = await _next_event(client.conn, client.reader, pacer.chunk)
                if isinstance(event, h11.EndOfMessage):
                    if cut is not None:
                        raise self._reset_both(client, upstream)
                    await self._to_upstream(upstream, h11.EndOfMessage())
                    return
                if not isinstance(event, h11.Data):
                    raise h11.RemoteProtocolError(f"unexpected {event!r} in request body")
                data = bytes(event.data)
                for start in range(0, len(data), pacer.chunk):
                    piece = data[start : start + pacer.chunk]
                    if cut is not None and ex.request_bytes + len(piece) >= cut:
                        piece = piece[: cut - ex.request_bytes]
                        ex.request_bytes += len(piece)
                        if piece:
                            await self._to_upstream(upstream, h11.Data(data=piece))
                        if reset is not None:
                            await self._after_cut(client, upstream, ex, data[start + len(piece) :], reset)
                        raise self._reset_both(client, upstream)
                    ex.request_bytes += len(piece)
                    await self._to_upstream(upstream, h11.Data(data=piece))
                    await pacer.pace(len(piece))
        except _Closed:
            raise
        except BaseException:
            client.reset()
            upstream.close()
            raise

    @staticmethod
    async def _to_upstream(upstream: _Upstream, event: Any) -> None:
        if upstream.broken:
            return
        try:
            await upstream.send(event)
        except (OSError, h11.LocalProtocolError):
            upstream.broken = True  # it answered and hung up; the client's body is drained

    async def _after_cut(
        self,
        client: _Client,
        upstream: _Upstream,
        ex: Exchange,
        rest: bytes,
        reset: Reset,
    ) -> None:
        """Past a request cut: drop `reset.lost_in_flight` more bytes, or deliver
        `reset.late_bytes` more `reset.late_seconds` after the client was reset."""
        late = reset.late_bytes
        taken = [rest]
        while sum(map(len, taken)) < max(reset.lost_in_flight, late):
            event = await _next_event(client.conn, client.reader)
            if not isinstance(event, h11.Data):
                break
            taken.append(bytes(event.data))
        if late:
            client.reset()
            await asyncio.sleep(reset.late_seconds)
            piece = b"".join(taken)[:late]
            ex.request_bytes += len(piece)
            await self._to_upstream(upstream, h11.Data(data=piece))

    @staticmethod
    def _reset_both(client: _Client, upstream: _Upstream) -> _Closed:
        client.reset()
        upstream.close()
        return _Closed()

    async def _relay(
        self,
        client: _Client,
        upstream: _Upstream,
        ex: Exchange,
        action: Forward | Reset | Truncate,
        forward: Forward,
    ) -> None:
        """Copy the registry's response to the client, applying the action's cut if any."""
        while True:
            event = await upstream.next_event()
            if isinstance(event, h11.Response):
                break
            if not isinstance(event, h11.InformationalResponse):
                raise h11.RemoteProtocolError(f"upstream sent {event!r} instead of a response")
        status = event.status_code
        headers = [
            self._rewrite_location(k.decode("latin-1"), v.decode("latin-1"))
            for k, v in event.headers.raw_items()
            if k.lower() not in _HOP_BY_HOP
        ]
        if forward.rewrite_response is not None:
            status, headers = forward.rewrite_response(status, headers)
        ex.status, ex.response_headers = status, _lower_dict(headers)
        limit = (
            action.after_bytes
            if isinstance(action, Truncate)
            else action.after_response_bytes
            if isinstance(action, Reset)
            else None
        )
        cut = _cut_point(limit, ex.response_headers)
        await client.send(h11.Response(status_code=status, headers=headers, reason=event.reason))
        pacer = _Pacer(forward.response_bytes_per_s)
        while True:
            event = await upstream.next_event()
            if isinstance(event, h11.EndOfMessage):
                if cut is not None:  # never let the client see a complete message
                    await self._cut(client, upstream, action)
                    raise _Closed
                await client.send(h11.EndOfMessage())
                return
            if not isinstance(event, h11.Data):
                raise h11.RemoteProtocolError(f"upstream sent {event!r} in a body")
            data = bytes(event.data)
            for start in range(0, len(data), pacer.chunk):
                piece = data[start : start + pacer.chunk]
                if cut is not None and ex.response_bytes + len(piece) >= cut:
                    piece = piece[: cut - ex.response_bytes]
                    ex.response_bytes += len(piece)
                    if piece:
                        await client.send(h11.Data(data=piece))
                    await self._cut(client, upstream, action)
                    raise _Closed
                ex.response_bytes += len(piece)
                await client.send(h11.Data(data=piece))
                await pacer.pace(len(piece))

    @staticmethod
    async def _cut(client: _Client, upstream: _Upstream, action: Action) -> None:
        """End the response early: RST for a Reset, a clean close for a Truncate."""
        upstream.close()
        await client.flush()
        if isinstance(action, Reset):
            client.reset()
        else:
            client.close()

    def _rewrite_location(self, name: str, value: str) -> tuple[str, str]:
        if name.lower() == "location" and value.startswith(self._upstream_base):
            return name, self.url + value[len(self._upstream_base) :]
        return name, value


def _reason(status: int) -> bytes:
    with contextlib.suppress(ValueError):
        return http.HTTPStatus(status).phrase.encode()
    return b""


# -- a recording "CDN" ---------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the :class:`RecordingServer` received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))


#: Bytes to serve for a request, or None for 404.
Source = Callable[[RecordedRequest], bytes | None]
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class RecordingServer:
    """Loopback HTTP server that records every request and serves GET/HEAD from ``content``.

    ``content`` maps a path to bytes, or is a callable (see :func:`quirks.registry_blob_source`).
    A single ``Range: bytes=a-[b]`` is honoured with 206, like the object stores behind real
    registry redirects. With ``reject_authorization`` a request carrying an Authorization
    header gets 400, as a presigned S3 URL answers ("Only one auth mechanism allowed").
    """

    def __init__(
        self,
        content: Mapping[str, bytes] | Source,
        *,
        name: str = "recording-server",
        reject_authorization: bool = False,
    ) -> None:
        self._source: Source = content if callable(content) else (lambda r: content.get(r.path))
        self.name = name
        self.reject_authorization = reject_authorization
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._http: LoopbackHTTPServer | None = None

    def start(self) -> RecordingServer:
        self._http = LoopbackHTTPServer(self._handler_class(), self.name)
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None

    def __enter__(self) -> RecordingServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._http is not None, f"{self.name} not started"
        return self._http.port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._serve(send_body=True)

            def do_HEAD(self) -> None:
                self._serve(send_body=False)

            def _serve(self, *, send_body: bool) -> None:
                path, _, query = self.path.partition("?")
                recorded = RecordedRequest(self.command, path, query, _lower_dict(self.headers.items()))
                with server._lock:
                    server._requests.append(recorded)
                if server.reject_authorization and "authorization" in recorded.headers:
                    return self._send(400, b"<Error><Code>InvalidArgument</Code></Error>", send_body)
                data = server._source(recorded)
                if data is None:
                    return self._send(404, b"not found", send_body)
                match = _RANGE.match(recorded.headers.get("range", ""))
                if match is None:
                    return self._send(200, data, send_body)
                first = int(match[1])
                last = min(int(match[2]) if match[2] else len(data) - 1, len(data) - 1)
                if first > last:
                    return self._send(416, b"", send_body, {"Content-Range": f"bytes */{len(data)}"})
                content_range = {"Content-Range": f"bytes {first}-{last}/{len(data)}"}
                self._send(206, data[first : last + 1], send_body, content_range)

            def _send(
                self, status: int, body: bytes, send_body: bool, extra: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # requests are recorded instead

        return Handler
