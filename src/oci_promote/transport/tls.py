"""TLS trust: one verifying context per CA source, its bundle loaded at most once per process.

`--ca-file` is loaded up front, so a bad file is a usage error before any
request; the environment's (SSL_CERT_FILE, SSL_CERT_DIR) or certifi's bundle
at the first TLS handshake, because a copy between plain-HTTP registries never
needs one and loading it costs about 50 ms.
"""

from __future__ import annotations

import functools
import os
import socket
import ssl
import sys
import threading
from typing import Any

from ..errors import UsageError


class TrustError(ssl.SSLError):
    """A CA bundle that cannot be loaded; prints as its message, not as an argument tuple."""

    def __str__(self) -> str:
        return str(self.args[0])


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying context for `ca_file`, or else the system's, honouring SSL_CERT_FILE/_DIR."""
    return _tls_context(ca_file, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _tls_context(ca_file: str | None, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """Shared by every client, so a CA bundle is loaded at most once per process."""
    if ca_file:
        context = DeferredTrustContext.create(cafile=ca_file)
        try:
            context.load_trust()
        except TrustError as e:
            raise UsageError(str(e)) from None
        return context
    return DeferredTrustContext.create(cafile=cert_file, capath=None if cert_file else cert_dir)


def probe_context() -> ssl.SSLContext:
    """For asking whether a port speaks TLS at all: it trusts nothing and never sends a request."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class DeferredTrustContext(ssl.SSLContext):
    """`ssl.create_default_context`, with its CA bundle loaded at the first TLS handshake.

    anyio calls `wrap_bio` of an SSLContext subclass in a worker thread, so the
    load never blocks the event loop; the lock makes it happen once. With no
    file or directory given, the bundle is certifi's, as in httpx.
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
                raise TrustError(f"cannot load CA certificates from {source}: {e.strerror or e}") from None
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
