"""How we reach a registry: scheme policy, TLS, timeouts, user agent, retries.

Plain HTTP is used only for loopback registries (as Docker does) and for
registries the user names as insecure; everything else is HTTPS with
certificate verification.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import socket
import ssl
import sys
import threading
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from . import __name__ as _package
from .errors import RegistryError, TransportError, UsageError
from .reference import is_loopback_registry

USER_AGENT = f"{_package.replace('_', '-')}/0.1"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
T = TypeVar("T")


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter, bounded per request and across a whole copy.

    One policy object is shared by every client of a copy, so `budget` caps
    the retries the copy spends in total: a registry that keeps failing ends
    the copy with a clear error instead of retrying forever.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_retry_after: float = 60.0
    budget: int = 100
    spent: int = 0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        hinted = parse_retry_after(retry_after) if retry_after else None
        if hinted is not None:
            return min(hinted, self.max_retry_after)
        return min(self.max_delay, self.base_delay * 2.0**attempt) * (0.5 + random.random() / 2)

    def may_retry(self, attempt: int) -> bool:
        """True (and one retry spent) if attempt number `attempt` may be followed by another."""
        if attempt + 1 >= self.attempts or self.spent >= self.budget:
            return False
        self.spent += 1
        return True

    async def pause(self, attempt: int, retry_after: str | None = None) -> None:
        await asyncio.sleep(self.delay(attempt, retry_after))


@dataclass(frozen=True)
class TransportOptions:
    insecure_registries: Collection[str] = ()
    ca_file: str | None = None
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def scheme_for(registry: str, insecure_registries: Collection[str]) -> str:
    if is_loopback_registry(registry) or registry in insecure_registries:
        return "http"
    host = registry.rsplit(":", 1)[0] if not registry.endswith("]") else registry
    return "http" if host in insecure_registries else "https"


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying context for `ca_file`, or else the system's, honouring SSL_CERT_FILE/_DIR."""
    return _tls_context(ca_file, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _tls_context(ca_file: str | None, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """Shared by every client, so a CA bundle is loaded at most once per process.

    An explicit `--ca-file` is loaded now, so a bad one is a usage error before any
    request; the environment's or certifi's bundle at the first TLS handshake.
    """
    if ca_file:
        context = DeferredTrustContext.create(cafile=ca_file)
        try:
            context.load_trust()
        except ssl.SSLError as e:
            raise UsageError(str(e)) from None
        return context
    return DeferredTrustContext.create(cafile=cert_file, capath=None if cert_file else cert_dir)


class DeferredTrustContext(ssl.SSLContext):
    """`ssl.create_default_context`, with its CA bundle loaded at the first TLS handshake.

    Loading a bundle takes about 20 ms, and a copy between plain-HTTP registries
    never needs one. anyio calls `wrap_bio` of an SSLContext subclass in a worker
    thread, so the load never blocks the event loop; the lock makes it happen once.
    With no file or directory given, the bundle is certifi's, as in httpx.
    """

    _cafile: str | None
    _capath: str | None
    _loaded: bool
    _lock: threading.Lock

    @classmethod
    def create(cls, cafile: str | None = None, capath: str | None = None) -> DeferredTrustContext:
        context = cls(ssl.PROTOCOL_TLS_CLIENT)  # verify_mode CERT_REQUIRED, check_hostname on
        if sys.version_info >= (3, 13):  # as create_default_context does from 3.13 on
            context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_X509_STRICT
        keylog = os.environ.get("SSLKEYLOGFILE")
        if keylog and not sys.flags.ignore_environment:
            context.keylog_filename = keylog
        context._cafile, context._capath = cafile, capath
        context._loaded, context._lock = False, threading.Lock()
        return context

    def load_trust(self) -> None:
        with self._lock:
            if self._loaded:
                return
            cafile, capath = self._cafile, self._capath
            if not (cafile or capath):
                import certifi

                cafile = certifi.where()
            try:
                self.load_verify_locations(cafile=cafile, capath=capath)
            except OSError as e:  # ssl.SSLError included: not PEM; a handshake reports it
                source = cafile or capath
                raise ssl.SSLError(f"cannot load CA certificates from {source}: {e.strerror or e}") from None
            self._loaded = True

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        self.load_trust()
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self.load_trust()
        return super().wrap_socket(sock, *args, **kwargs)


#: asyncio hands a socket's data over in pieces of up to 256 KiB; httpcore asks for 64 KiB.
READ_SIZE = 256 * 1024


def use_large_reads() -> None:
    """Let httpcore take up to READ_SIZE per read, for every client in this process.

    Streaming a blob costs a fixed amount of Python per read; reading 4x as much
    at a time cuts the CPU of a copy by about a fifth. It is a process-wide class
    attribute of httpcore, so only the CLI and the Action, which own their process,
    set it; a library caller may call this too.
    """
    import httpcore

    connection = httpcore.AsyncHTTP11Connection
    connection.READ_NUM_BYTES = max(connection.READ_NUM_BYTES, READ_SIZE)


def make_http_client(options: TransportOptions, *, max_connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=tls_context(options.ca_file),
        timeout=httpx.Timeout(options.timeout, connect=min(options.timeout, 30.0)),
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        follow_redirects=False,
        trust_env=True,
    )


def parse_retry_after(value: str) -> float | None:
    """Retry-After is either delta-seconds or an HTTP-date."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


async def with_retries(
    send: Callable[[], Awaitable[httpx.Response]], policy: RetryPolicy, what: str, registry: str
) -> httpx.Response:
    """Send a replayable request, retrying connection faults and retryable statuses."""
    attempt = 0
    while True:
        try:
            response = await send()
        except httpx.TransportError as e:
            if not policy.may_retry(attempt):
                raise TransportError(
                    f"{what}: cannot reach {registry}: {describe_transport_error(e)}",
                    registry=registry,
                ) from None
            await policy.pause(attempt)
        else:
            if response.status_code not in RETRY_STATUSES or not policy.may_retry(attempt):
                return response
            await response.aclose()
            await policy.pause(attempt, response.headers.get("retry-after"))
        attempt += 1


async def retrying(operation: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Run an operation that can be started over, again after a retryable failure."""
    attempt = 0
    while True:
        try:
            return await operation()
        except (TransportError, RegistryError) as e:
            if not is_retryable(e) or not policy.may_retry(attempt):
                raise
            await policy.pause(attempt, e.retry_after)
        attempt += 1


def is_retryable(error: BaseException) -> bool:
    """Errors worth another attempt: no answer at all, or a status that says 'later'."""
    if isinstance(error, TransportError):
        return True
    return isinstance(error, RegistryError) and error.status in RETRY_STATUSES


def describe_transport_error(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    text = str(error) or type(error).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return f"TLS certificate not trusted ({text}); pass --ca-file for a private CA"
    return text
