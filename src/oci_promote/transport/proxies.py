"""Which HTTP proxy a request goes through, decided in one place.

The environment's HTTP_PROXY, HTTPS_PROXY and ALL_PROXY apply (upper or lower
case), NO_PROXY is honoured, and loopback hosts are always reached directly, as
curl, skopeo and the Go tools do: a port-forwarded registry on localhost must
not be sent to a corporate proxy. The same decision names the proxy in an error.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping

import httpx

from ..errors import UsageError
from ..types.reference import is_loopback_registry


def environment_proxies() -> dict[str, str]:
    """`{"http": URL, "https": URL, "all": URL, "no": "host,..."}` from the environment."""
    return {k: v for k, v in urllib.request.getproxies_environment().items() if v}


def proxy_for(url: httpx.URL, proxies: Mapping[str, str]) -> str | None:
    """The proxy URL for `url`, or None for a direct connection."""
    netloc = url.netloc.decode()
    if not proxies or is_loopback_registry(netloc):
        return None
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if "no" in proxies and bypass(netloc, dict(proxies)):
        return None
    return proxies.get(url.scheme) or proxies.get("all")


def shown(proxy: str) -> str:
    """A proxy URL as it may be printed: scheme, host and port, never its credentials."""
    url = httpx.URL(proxy)
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"


class RoutingTransport(httpx.AsyncBaseTransport):
    """Sends each request directly or through the proxy `proxy_for` names."""

    def __init__(self, proxies: Mapping[str, str], **transport_options: object) -> None:
        self.proxies = dict(proxies)
        self._direct = httpx.AsyncHTTPTransport(**transport_options)  # type: ignore[arg-type]
        self._via: dict[str, httpx.AsyncHTTPTransport] = {}
        for key in ("http", "https", "all"):
            proxy = self.proxies.get(key)
            if proxy and proxy not in self._via:
                try:
                    self._via[proxy] = httpx.AsyncHTTPTransport(
                        proxy=httpx.Proxy(proxy),
                        **transport_options,  # type: ignore[arg-type]
                    )
                except (ValueError, ImportError, httpx.InvalidURL):  # the text may hold its password
                    raise UsageError(
                        f"the environment's {key.upper()}_PROXY is not a usable proxy URL "
                        "(http://, https://, or socks5:// with the socksio package)"
                    ) from None

    def proxy_for(self, url: httpx.URL) -> str | None:
        return proxy_for(url, self.proxies)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self.proxy_for(request.url)
        transport = self._direct if proxy is None else self._via[proxy]
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in (self._direct, *self._via.values()):
            await transport.aclose()
