"""The one place where httpx exceptions and HTTP error answers become our errors.

Each error is one line with what a user needs to act: what was asked, of which
host, what it answered (status, the registry's error codes) and, where we know
it, what to do about it.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from ..errors import (
    AuthenticationError,
    AuthorizationError,
    NotFoundError,
    PromoteError,
    RegistryError,
    RegistryErrorDetail,
    TransportError,
)

#: OpenSSL's words for "the other side answered the handshake in plain text".
_NOT_TLS = ("WRONG_VERSION_NUMBER", "wrong version number", "record layer failure", "packet length too long")


def error_for(
    response: httpx.Response, what: str, registry: str, *, credentials_sent: bool = False
) -> RegistryError:
    """Turn an error answer (its body already read) into our exception, keeping the registry's codes."""
    details = error_details(response)
    status = response.status_code
    said = "; ".join(f"{d.code}: {d.message}" if d.message else d.code for d in details)
    codes = f": {said}" if said else ""
    facts = {
        "registry": registry,
        "status": status,
        "details": details,
        "retry_after": response.headers.get("retry-after"),
    }
    if status == 401:
        if credentials_sent:
            return AuthenticationError(
                f"{what}: {registry} refused the credentials (HTTP 401{codes})",
                credentials_sent=True,
                **facts,
            )
        return AuthenticationError(
            f"{what}: {registry} answered authentication required (HTTP 401{codes}); no credentials for "
            f"{registry}: log in with `docker login {registry}` or pass credentials",
            **facts,
        )
    cls: Callable[..., RegistryError] = RegistryError
    if status == 403:
        cls, text = AuthorizationError, f"access denied (HTTP 403{codes})"
    elif status == 404:
        cls, text = NotFoundError, f"not found (HTTP 404{codes})"
    elif status == 405:
        text = (
            f"does not allow {response.request.method} here (HTTP 405{codes}): "
            "it is read-only, or a pull-through cache, which cannot be pushed to"
        )
    else:
        text = f"HTTP {status}{codes}"
    return cls(f"{what}: {registry} answered {text}", **facts)


def transport_error(error: Exception, what: str, registry: str, *, proxy: str | None = None) -> PromoteError:
    """Turn an httpx exception (no usable answer) into our TransportError, with a hint where one helps."""
    host = _host(error) or registry
    cause = error.__cause__ or error.__context__
    text = str(error) or (str(cause) if cause else "") or type(cause or error).__name__
    if isinstance(error, httpx.StreamConsumed):
        # A 401 in the middle of a streamed body (the token lapsed): a retry from a new
        # upload session will carry the renewed token.
        return TransportError(
            f"{what}: {host} asked for credentials again during the upload", registry=registry
        )
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return TransportError(
            f"{what}: TLS certificate of {host} not trusted ({text}); pass --ca-file for a private CA",
            registry=registry,
            retryable=False,
        )
    if "cannot load CA certificates" in text:
        return TransportError(f"{what}: {text}", registry=registry, retryable=False)
    if any(sign in text for sign in _NOT_TLS):
        return TransportError(
            f"{what}: {host} does not speak TLS on this port ({text}); if it serves plain HTTP, "
            f"name it with --plain-http {host} or --insecure-registry {host}",
            registry=registry,
            retryable=False,
        )
    detail = "timed out" if isinstance(error, httpx.TimeoutException) else text
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError)):
        via = f" through proxy {proxy}" if proxy else ""
        return TransportError(f"{what}: cannot reach {host}{via}: {detail}", registry=registry)
    return TransportError(f"{what}: the connection to {host} broke: {detail}", registry=registry)


def _host(error: Exception) -> str | None:
    try:
        url = error.request.url  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError when no request is set
        return None
    return str(url.netloc.decode()) if isinstance(url, httpx.URL) else None


def error_details(response: httpx.Response) -> list[RegistryErrorDetail]:
    """The first few entries of the registry's `errors` array; [] for any other body."""
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    out = []
    for item in errors[:5]:
        if isinstance(item, dict) and isinstance(item.get("code"), str):
            message = item.get("message")
            out.append(RegistryErrorDetail(item["code"], message if isinstance(message, str) else ""))
    return out


def error_codes(response: httpx.Response) -> set[str]:
    return {d.code for d in error_details(response)}
