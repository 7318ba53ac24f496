"""Which scheme a registry is spoken to with: HTTPS, unless it is local or named otherwise.

- `plain_http` hosts: plain HTTP, always;
- `https_only` hosts: HTTPS, never a fallback;
- loopback hosts (localhost, 127.0.0.0/8, [::1]) and `insecure_registries`: HTTPS when
  the port speaks TLS, plain HTTP when it does not, as Docker does. Asked once per
  client with a bare TLS handshake that sends no HTTP request (so a registry logs
  nothing) and loads no CA bundle: about a millisecond on loopback;
- every other registry: HTTPS with certificate verification.

Credentials therefore only travel over plain HTTP to a registry that is itself
plain HTTP and local or named by the user.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Collection
from typing import Literal

import anyio

from ..types.reference import is_loopback_registry
from .tls import probe_context

log = logging.getLogger("oci_promote")

Plan = Literal["https", "http", "https-or-http"]


def named(registry: str, hosts: Collection[str]) -> bool:
    """True if `registry` (host[:port]) or its host alone is among `hosts`."""
    wanted = {h.lower() for h in hosts}
    registry = registry.lower()
    host = registry if registry.endswith("]") else registry.rsplit(":", 1)[0]
    return registry in wanted or host in wanted


def scheme_plan(
    registry: str,
    *,
    insecure: Collection[str] = (),
    plain_http: Collection[str] = (),
    https_only: Collection[str] = (),
) -> Plan:
    if named(registry, plain_http):
        return "http"
    if named(registry, https_only):
        return "https"
    if is_loopback_registry(registry) or named(registry, insecure):
        return "https-or-http"
    return "https"


async def speaks_tls(registry: str, timeout: float) -> bool | None:
    """Whether `registry`'s port completes a TLS handshake; None when it cannot be reached."""
    host, port = _host_port(registry)
    try:
        with anyio.fail_after(timeout):
            stream = await anyio.connect_tcp(
                host, port, tls=True, ssl_context=probe_context(), tls_hostname=host
            )
    except (ssl.SSLError, anyio.BrokenResourceError, ConnectionResetError, ConnectionAbortedError):
        return False  # it answered the handshake with something else: plain HTTP
    except OSError:  # refused, unreachable, or TimeoutError
        return None
    await anyio.aclose_forcefully(stream)
    return True


class SchemeChoice:
    """One registry's scheme, settled on first use and then kept for the client's life."""

    def __init__(self, registry: str, plan: Plan, timeout: float) -> None:
        self.registry = registry
        self.plan = plan
        self.timeout = min(timeout, 10.0)
        self._scheme: str | None = None if plan == "https-or-http" else plan
        self._lock = anyio.Lock()

    async def scheme(self) -> str:
        if self._scheme is None:
            async with self._lock:
                if self._scheme is None:
                    tls = await speaks_tls(self.registry, self.timeout)
                    # Unreachable: keep plain HTTP, and let the request say it cannot connect.
                    self._scheme = "https" if tls else "http"
                    log.debug("%s speaks %s", self.registry, "TLS" if tls else "plain HTTP")
        return self._scheme


def _host_port(registry: str) -> tuple[str, int]:
    if registry.startswith("["):
        host, _, rest = registry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 443
    host, _, port = registry.partition(":")
    return host, int(port) if port.isdigit() else 443
