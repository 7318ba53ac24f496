"""One HTTP stack per registry: scheme, auth, redirect credential policy, retries, error mapping.

    RegistryClient / BlobUploader     protocol steps (registry.py, upload.py)
    Transport.request / .stream       this module: one attempt = send, follow, read, check
      auth                            RegistryAuth (auth.py): challenge, tokens, renewal
      redirects                       credentials only to the registry; never HTTPS -> HTTP
      retries                         RetryPolicy (retry.py): the only retry loop
      error mapping                   http_errors.py: the only place httpx becomes our errors
      scheme, proxy, TLS              scheme.py, proxies.py, tls.py
    httpx

Requests are attempted at most `retry.attempts` times. A request with a body
that cannot be replayed (a streamed upload) is sent once (`retry=False`); its
caller restarts the whole operation instead.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

from ..errors import PromoteError, TransportError
from .auth import RegistryAuth
from .credentials import Credential
from .errors import error_for, transport_error
from .proxies import RoutingTransport, environment_proxies, shown
from .retry import Attempts, RetryPolicy
from .scheme import SchemeChoice, scheme_plan
from .tls import tls_context

__all__ = ["USER_AGENT", "RetryPolicy", "Transport", "TransportOptions", "use_large_reads"]

USER_AGENT = "oci-promote/0.1"
#: Answers a request may get without being an error, unless the caller says otherwise.
SUCCESS = (200, 201, 202, 204)
_MAX_REDIRECTS = 6
#: Query parameters whose values may be logged; any other value (upload `_state`, ...) is not.
_LOGGABLE_PARAMS = frozenset({"digest", "mount", "from", "n", "last", "scope", "service"})

request_log = logging.getLogger("oci_promote.http")


@dataclass(frozen=True)
class TransportOptions:
    insecure_registries: Collection[str] = ()
    ca_file: str | None = None
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Registries always spoken to in plain HTTP (HOST or HOST:PORT).
    plain_http: Collection[str] = ()
    #: Registries always spoken to in HTTPS, even on loopback: no plain-HTTP fallback.
    https_only: Collection[str] = ()


#: Bytes per socket read, in asyncio's transport and in httpcore (their defaults: 256 and 64 KiB).
READ_SIZE = 1024 * 1024


def use_large_reads() -> None:
    """Read sockets READ_SIZE at a time, in httpcore and in asyncio, for this whole process.

    Streaming a blob costs a fixed amount of Python per read (h11, httpcore, anyio,
    the fan-out), so the CPU of a copy falls with the number of reads: 1 MiB reads
    instead of 256 KiB took a 512 MiB download-and-upload from 1.13 to 0.87 s of
    CPU here (4 MiB saved nothing more and cost 25 MB of RSS; bench/results.md).
    Both are class attributes, so only the CLI and the Action, which own their
    process, set them; a library caller may call this too.
    """
    import asyncio.selector_events

    import httpcore

    connection = httpcore.AsyncHTTP11Connection
    connection.READ_NUM_BYTES = max(connection.READ_NUM_BYTES, READ_SIZE)
    transport = getattr(asyncio.selector_events, "_SelectorSocketTransport", None)
    if transport is not None and getattr(transport, "max_size", READ_SIZE) < READ_SIZE:
        transport.max_size = READ_SIZE


class ResponseTooLarge(PromoteError):
    """A body over the limit the caller set; the caller says what that means."""


class Transport:
    """The HTTP stack of one registry, with its own connection pool and auth state."""

    def __init__(
        self, registry: str, credential: Credential | None, options: TransportOptions, *, max_connections: int
    ) -> None:
        self.registry = registry
        self.auth = RegistryAuth(registry, credential)
        self.retry = options.retry
        plan = scheme_plan(
            registry,
            insecure=options.insecure_registries,
            plain_http=options.plain_http,
            https_only=options.https_only,
        )
        self._scheme = SchemeChoice(registry, plan, options.timeout)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._routes = RoutingTransport(
            environment_proxies(), verify=tls_context(options.ca_file), limits=limits
        )
        self.http = httpx.AsyncClient(
            transport=self._routes,
            timeout=httpx.Timeout(options.timeout, connect=min(options.timeout, 30.0)),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
            trust_env=False,  # proxies: proxies.py; CA bundles: tls.py
            event_hooks={"response": [_log_response]},
        )

    async def base_url(self) -> str:
        return f"{await self._scheme.scheme()}://{self.registry}"

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(
        self,
        method: str,
        target: str,
        what: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        content: bytes | AsyncIterator[bytes] | None = None,
        ok: Collection[int] = SUCCESS,
        retry: bool = True,
        attempts: Attempts | None = None,
        max_bytes: int | None = None,
        stream: bool = False,
        follow_redirects: bool = True,
    ) -> httpx.Response:
        """Send a request and read its answer, whose status must be in `ok`.

        `target` is a path on the registry (`/v2/...`) or an absolute URL (an
        upload session). With `retry`, a fault or a "later" status starts the
        request again, up to the policy's attempts; the answer is read within
        the attempt, so a broken body is retried too. `attempts` shares the count
        with earlier sends of the same request. With `stream`, one attempt is
        made and the body is left to read: close the response. Without `follow_redirects` a
        redirect is an answer like any other (the referrers API: a 303 means "no API").
        """
        send = (method, target, what, headers, params, content, ok, follow_redirects)
        if stream:
            return await self._open(*send)

        async def once() -> httpx.Response:
            response = await self._open(*send)
            try:
                await self._read(response, what, max_bytes)
            finally:
                await response.aclose()
            return response

        return await self.retry.run(once, what, attempts) if retry else await once()

    async def _open(self, method: str, target: str, what: str, *options: Any) -> httpx.Response:
        """One attempt: GET and HEAD follow redirects, and credentials only go where the registry is."""
        headers, params, content, ok, follow = options
        url = await self._url(target)
        auth: httpx.Auth | None = self.auth
        for _ in range(_MAX_REDIRECTS):
            request = self.http.build_request(method, url, headers=headers, params=params, content=content)
            with self.errors(what):
                response = await self.http.send(request, auth=auth, stream=True)
            try:
                if follow and response.is_redirect and method in ("GET", "HEAD"):
                    url, auth = redirect_target(
                        url, response, await self.base_url(), auth, what, self.registry
                    )
                    params = None  # the Location carries its own query
                    await response.aclose()
                    continue
                await self._check(response, what, ok)
            except BaseException:
                await response.aclose()
                raise
            return response
        raise TransportError(f"{what}: too many redirects", registry=self.registry)

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Turn httpx exceptions raised inside into our errors (naming a proxy that was used)."""
        try:
            yield
        except (httpx.TransportError, httpx.StreamConsumed) as e:
            raise transport_error(e, what, self.registry, proxy=self._proxy_of(e)) from None

    def _proxy_of(self, error: Exception) -> str | None:
        try:
            via = self._routes.proxy_for(error.request.url)  # type: ignore[attr-defined]
        except (AttributeError, RuntimeError):  # no request attached
            return None
        return shown(via) if via else None

    def error(self, response: httpx.Response, what: str) -> PromoteError:
        """Our error for an answer whose body has been read."""
        return error_for(response, what, self.registry, credentials_sent=self.auth.credential is not None)

    async def _check(self, response: httpx.Response, what: str, ok: Collection[int]) -> None:
        if response.status_code not in ok:
            with self.errors(what):
                await response.aread()
            raise self.error(response, what)

    async def _read(self, response: httpx.Response, what: str, max_bytes: int | None) -> None:
        """Read the body into the response; past `max_bytes`, stop reading and refuse it."""
        if max_bytes is None:
            with self.errors(what):
                await response.aread()
            return
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise ResponseTooLarge(what)
        body = bytearray()
        with self.errors(what):
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise ResponseTooLarge(what)
        response._content = bytes(body)  # as aread() stores it

    async def _url(self, target: str) -> httpx.URL:
        return httpx.URL(target if "://" in target else f"{await self.base_url()}{target}")


def redirect_target(
    url: httpx.URL, response: httpx.Response, base_url: str, auth: httpx.Auth | None, what: str, registry: str
) -> tuple[httpx.URL, httpx.Auth | None]:
    """Where a redirect leads, and whether credentials may follow (only to the registry itself)."""
    target = url.join(response.headers.get("location", ""))
    if url.scheme == "https" and target.scheme != "https":
        raise TransportError(
            f"{what}: refusing a redirect from HTTPS to {target.scheme}://{target.host}", registry=registry
        )
    home = httpx.URL(base_url)
    same_origin = (target.scheme, target.host, target.port) == (home.scheme, home.host, home.port)
    return target, auth if same_origin else None


def loggable(url: httpx.URL) -> str:
    """A URL without secrets: the values of query parameters outside a short list are redacted."""
    pairs = parse_qsl(url.query.decode(), keep_blank_values=True)
    query = "&".join(f"{k}={v if k in _LOGGABLE_PARAMS else '…'}" for k, v in pairs)
    base = f"{url.scheme}://{url.netloc.decode()}{url.path}"
    return f"{base}?{query}" if query else base


async def _log_response(response: httpx.Response) -> None:
    """One line per HTTP exchange (token requests and redirects included), for `-v`."""
    if request_log.isEnabledFor(logging.DEBUG):
        request = response.request
        request_log.debug("HTTP %s %s -> %d", request.method, loggable(request.url), response.status_code)
