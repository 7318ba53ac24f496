"""A client for one registry host: the distribution API calls the copy needs.

It knows HTTP and the registry protocol, and nothing of GitHub or of copy
plans. Errors come back as our own exceptions with the registry's error codes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from .auth import RegistryAuth
from .digest import Digest
from .errors import (
    AuthenticationError,
    AuthorizationError,
    DigestMismatchError,
    NotFoundError,
    RegistryError,
    RegistryErrorDetail,
    TransportError,
)
from .media import ACCEPT
from .transport import RetryPolicy, describe_transport_error, with_retries

_STREAM_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ManifestHead:
    digest: str | None
    media_type: str | None
    size: int | None


@dataclass(frozen=True)
class MountResult:
    mounted: bool
    #: Where to upload instead, when the registry opened a session rather than mounting.
    upload_location: str | None


class RegistryClient:
    def __init__(
        self,
        registry: str,
        base_url: str,
        http: httpx.AsyncClient,
        auth: RegistryAuth,
        retry: RetryPolicy,
    ) -> None:
        self.registry = registry
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.auth = auth
        self.retry = retry

    # -- manifests -------------------------------------------------------

    async def head_manifest(self, repository: str, target: str) -> ManifestHead | None:
        """Ask whether `target` exists without downloading it; None when it does not."""
        response = await self._send(
            "HEAD",
            f"/v2/{repository}/manifests/{target}",
            f"{repository}:{target}",
            headers={"Accept": ACCEPT},
            missing_ok=True,
        )
        if response.status_code == 404:
            return None
        length = response.headers.get("content-length")
        return ManifestHead(
            response.headers.get("docker-content-digest"),
            _media_type(response.headers.get("content-type")),
            int(length) if length and length.isdigit() else None,
        )

    async def get_manifest(self, repository: str, target: str) -> tuple[bytes, str | None, str | None]:
        """Return (raw bytes, content type, Docker-Content-Digest)."""
        response = await self._send(
            "GET",
            f"/v2/{repository}/manifests/{target}",
            f"{repository}:{target}",
            headers={"Accept": ACCEPT},
        )
        return (
            response.content,
            _media_type(response.headers.get("content-type")),
            response.headers.get("docker-content-digest"),
        )

    async def put_manifest(self, repository: str, target: str, raw: bytes, media_type: str) -> str | None:
        """Push manifest bytes verbatim; return the registry's Docker-Content-Digest."""
        response = await self._send(
            "PUT",
            f"/v2/{repository}/manifests/{target}",
            f"{repository}:{target}",
            headers={"Content-Type": media_type},
            content=raw,
        )
        echoed: str | None = response.headers.get("docker-content-digest")
        return echoed

    async def repository_exists(self, repository: str) -> bool | None:
        """True/False when the registry says so clearly (NAME_UNKNOWN), None when it cannot tell."""
        response = await self._send(
            "GET",
            f"/v2/{repository}/tags/list",
            repository,
            params={"n": "1"},
            missing_ok=True,
        )
        if response.status_code == 200:
            return True
        if response.status_code == 404 and "NAME_UNKNOWN" in _error_codes(response):
            return False
        return None

    # -- blobs -----------------------------------------------------------

    async def blob_exists(self, repository: str, digest: Digest) -> bool:
        response = await self._send(
            "HEAD", f"/v2/{repository}/blobs/{digest}", f"{repository}@{digest}", missing_ok=True
        )
        return response.status_code == 200

    async def mount_blob(self, repository: str, digest: Digest, from_repository: str) -> MountResult:
        """Cross-repository mount; a 202 hands back an upload session we can use directly."""
        response = await self._send(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            f"{repository}@{digest}",
            params={"mount": str(digest), "from": from_repository},
            headers={"Content-Length": "0"},
            ok=(201, 202),
        )
        if response.status_code == 201:
            return MountResult(True, None)
        return MountResult(False, self._location(response))

    async def start_upload(self, repository: str) -> str:
        response = await self._send(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            repository,
            headers={"Content-Length": "0"},
            ok=(202,),
        )
        return self._location(response)

    async def finish_upload(
        self, location: str, digest: Digest, size: int, body: AsyncIterator[bytes], what: str
    ) -> None:
        """Monolithic PUT of a streamed body; the stream is never buffered whole."""
        url = httpx.URL(location)
        url = url.copy_merge_params({"digest": str(digest)})
        try:
            response = await self.http.request(
                "PUT",
                url,
                content=body,
                auth=self.auth,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            )
        except httpx.StreamConsumed:
            raise AuthenticationError(
                f"{what}: {self.registry} asked for credentials again in the middle of an upload",
                registry=self.registry,
            ) from None
        except httpx.TransportError as e:
            raise TransportError(
                f"{what}: upload to {self.registry} failed: {describe_transport_error(e)}",
                registry=self.registry,
            ) from None
        await self._check(response, what, ok=(201, 204))
        echoed = response.headers.get("docker-content-digest")
        if echoed and echoed != str(digest):
            raise DigestMismatchError(
                f"{what}: {self.registry} stored the blob as {echoed}, expected {digest}",
                expected=str(digest),
                got=echoed,
            )

    async def cancel_upload(self, location: str) -> None:
        """Best effort: an abandoned session would otherwise linger until the registry expires it."""
        try:
            response = await self.http.request("DELETE", location, auth=self.auth)
            await response.aclose()
        except httpx.HTTPError:
            pass

    async def stream_blob(self, repository: str, digest: Digest) -> AsyncIterator[bytes]:
        """Yield a blob's bytes, following redirects without leaking credentials."""
        what = f"{repository}@{digest}"
        url = httpx.URL(f"{self.base_url}/v2/{repository}/blobs/{digest}")
        auth: httpx.Auth | None = self.auth
        for _ in range(6):
            request = self.http.build_request("GET", url)
            try:
                response = await self.http.send(request, auth=auth, stream=True)
            except httpx.TransportError as e:
                raise TransportError(
                    f"{what}: download from {url.host} failed: {describe_transport_error(e)}",
                    registry=self.registry,
                ) from None
            try:
                if response.is_redirect:
                    target = url.join(response.headers["location"])
                    if url.scheme == "https" and target.scheme != "https":
                        raise TransportError(
                            f"{what}: refusing redirect from HTTPS to {target.scheme} ({target.host})",
                            registry=self.registry,
                        )
                    if target.host != httpx.URL(self.base_url).host:
                        auth = None  # credentials belong to the registry alone
                    url = target
                    continue
                await self._check(response, what, ok=(200,))
                try:
                    async for chunk in response.aiter_bytes(_STREAM_CHUNK):
                        yield chunk
                except httpx.TransportError as e:
                    raise TransportError(
                        f"{what}: download interrupted: {describe_transport_error(e)}",
                        registry=self.registry,
                    ) from None
                return
            finally:
                await response.aclose()
        raise TransportError(f"{what}: too many redirects", registry=self.registry)

    # -- plumbing --------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        missing_ok: bool = False,
    ) -> httpx.Response:
        url = f"{self.base_url}{path}"

        def send() -> Awaitable[httpx.Response]:
            return self.http.request(
                method, url, headers=headers, params=params, content=content, auth=self.auth
            )

        response = await with_retries(send, self.retry, what, self.registry)
        if missing_ok and response.status_code == 404:
            return response
        await self._check(response, f"{what}", ok=ok)
        return response

    async def _check(self, response: httpx.Response, what: str, *, ok: tuple[int, ...]) -> None:
        if response.status_code in ok:
            return
        await response.aread()
        raise error_for(response, what, self.registry)

    def _location(self, response: httpx.Response) -> str:
        location = response.headers.get("location")
        if not location:
            raise RegistryError(
                f"{self.registry} opened an upload session without a Location header",
                registry=self.registry,
                status=response.status_code,
            )
        return urljoin(str(response.url), str(location))


def error_for(response: httpx.Response, what: str, registry: str) -> RegistryError:
    """Turn an error response into our exception, keeping the registry's codes."""
    details = _error_details(response)
    status = response.status_code
    said = "; ".join(f"{d.code}: {d.message}" if d.message else d.code for d in details)
    suffix = f" ({said})" if said else ""
    cls: Callable[..., RegistryError]
    if status == 401:
        cls, text = AuthenticationError, "authentication required or credentials rejected"
    elif status == 403:
        cls, text = AuthorizationError, "access denied"
    elif status == 404:
        cls, text = NotFoundError, "not found"
    else:
        cls, text = RegistryError, f"HTTP {status}"
    return cls(
        f"{what}: {registry} answered {text}{suffix}",
        registry=registry,
        status=status,
        details=details,
    )


def _error_details(response: httpx.Response) -> list[RegistryErrorDetail]:
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


def _error_codes(response: httpx.Response) -> set[str]:
    return {d.code for d in _error_details(response)}


def _media_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip() or None
