"""A client for one registry host: the distribution API calls the copy needs.

It knows HTTP and the registry protocol, and nothing of GitHub or of copy
plans. Errors come back as our own exceptions with the registry's error codes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from .auth import RegistryAuth
from .credentials import Credential
from .digest import Digest
from .errors import (
    AuthenticationError,
    AuthorizationError,
    ManifestError,
    NotFoundError,
    RegistryError,
    RegistryErrorDetail,
    TransportError,
)
from .media import ACCEPT, MAX_MANIFEST_BYTES
from .transport import (
    RetryPolicy,
    TransportOptions,
    describe_transport_error,
    is_retryable,
    make_http_client,
    retrying,
    scheme_for,
    with_retries,
)

log = logging.getLogger("oci_promote")
_MAX_REDIRECTS = 6


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


def open_client(
    registry: str, credential: Credential | None, options: TransportOptions, *, max_connections: int
) -> RegistryClient:
    """A client for `registry` with its own connection pool and auth state; close it with `aclose()`."""
    http = make_http_client(options, max_connections=max_connections)
    base = f"{scheme_for(registry, options.insecure_registries)}://{registry}"
    return RegistryClient(registry, base, http, RegistryAuth(registry, credential), options.retry)


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
        #: OCI-Chunk-Min-Length from the registry's last upload session, if it sent one.
        self.min_chunk_length = 0

    async def aclose(self) -> None:
        await self.http.aclose()

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
        """Return (raw bytes, content type, Docker-Content-Digest), retrying a broken read."""
        return await retrying(lambda: self._get_manifest_once(repository, target), self.retry)

    async def _get_manifest_once(self, repository: str, target: str) -> tuple[bytes, str | None, str | None]:
        """One GET of a manifest; refuse oversized manifests.

        The body is read in pieces and abandoned past the limit, so a hostile
        registry cannot make us buffer an unbounded manifest.
        """
        what = f"{repository}:{target}"
        url = f"{self.base_url}/v2/{repository}/manifests/{target}"

        def send() -> Awaitable[httpx.Response]:
            request = self.http.build_request("GET", url, headers={"Accept": ACCEPT})
            return self.http.send(request, auth=self.auth, stream=True)

        response = await with_retries(send, self.retry, what, self.registry)
        try:
            await self._check(response, what, ok=(200,))
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_MANIFEST_BYTES:
                raise _too_large(what, self.registry)
            body = bytearray()
            try:
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_MANIFEST_BYTES:
                        raise _too_large(what, self.registry)
            except httpx.TransportError as e:
                raise TransportError(
                    f"{what}: reading the manifest from {self.registry} failed: "
                    f"{describe_transport_error(e)}",
                    registry=self.registry,
                ) from None
        finally:
            await response.aclose()
        return (
            bytes(body),
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
        if response.status_code == 404 and "NAME_UNKNOWN" in error_codes(response):
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

    def _location(self, response: httpx.Response) -> str:
        location = response.headers.get("location")
        if not location:
            raise RegistryError(
                f"{self.registry} opened an upload session without a Location header",
                registry=self.registry,
                status=response.status_code,
            )
        minimum = response.headers.get("oci-chunk-min-length", "")
        if minimum.isdigit():
            self.min_chunk_length = int(minimum)
        return urljoin(str(response.url), str(location))

    async def cancel_upload(self, location: str) -> None:
        """Best effort: an abandoned session would otherwise linger until the registry expires it."""
        try:
            response = await self.http.request("DELETE", location, auth=self.auth)
            await response.aclose()
        except httpx.HTTPError:
            pass

    async def stream_blob(self, repository: str, digest: Digest) -> AsyncIterator[bytes]:
        """Yield a blob's bytes; a dropped download resumes where it stopped.

        The resumed request asks for `Range: bytes=N-`; a 206 whose Content-Range
        starts at N continues the stream, a 200 is read again from the start with
        the first N bytes dropped. Either way the caller's digest check sees
        every byte exactly once.
        """
        received = 0
        attempt = 0
        while True:
            try:
                async for chunk in self._blob_body(repository, digest, received):
                    received += len(chunk)
                    yield chunk
                return
            except (TransportError, RegistryError) as e:
                if not is_retryable(e) or not self.retry.may_retry(attempt):
                    raise
                log.info(
                    "%s@%s: download interrupted at byte %d (%s); resuming",
                    repository,
                    digest.short,
                    received,
                    e,
                )
                await self.retry.pause(attempt, getattr(e, "retry_after", None))
                attempt += 1

    async def _blob_body(self, repository: str, digest: Digest, offset: int) -> AsyncIterator[bytes]:
        """One GET of a blob from `offset` on, following redirects without leaking credentials."""
        what = f"{repository}@{digest}"
        url = httpx.URL(f"{self.base_url}/v2/{repository}/blobs/{digest}")
        # The digest is of the stored bytes: ask for them as stored, never re-encoded.
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        auth: httpx.Auth | None = self.auth
        for _ in range(_MAX_REDIRECTS):
            request = self.http.build_request("GET", url, headers=headers)
            try:
                response = await self.http.send(request, auth=auth, stream=True)
            except httpx.TransportError as e:
                raise TransportError(
                    f"{what}: download from {url.host} failed: {describe_transport_error(e)}",
                    registry=self.registry,
                ) from None
            try:
                if response.is_redirect:
                    url, auth = self._redirect_target(url, response, auth, what)
                    continue
                await self._check(response, what, ok=(200, 206))
                skip = offset
                if response.status_code == 206:
                    expected = f"bytes {offset}-"
                    if not response.headers.get("content-range", "").startswith(expected):
                        raise TransportError(
                            f"{what}: server resumed at the wrong offset", registry=self.registry
                        )
                    skip = 0
                try:
                    async for chunk in response.aiter_raw():
                        if skip:
                            dropped = min(skip, len(chunk))
                            chunk, skip = chunk[dropped:], skip - dropped
                        if chunk:
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

    def _redirect_target(
        self, url: httpx.URL, response: httpx.Response, auth: httpx.Auth | None, what: str
    ) -> tuple[httpx.URL, httpx.Auth | None]:
        """Where a redirect leads, and whether credentials may follow (only to the registry)."""
        target = url.join(response.headers.get("location", ""))
        if url.scheme == "https" and target.scheme != "https":
            raise TransportError(
                f"{what}: refusing a redirect from HTTPS to {target.scheme}://{target.host}",
                registry=self.registry,
            )
        registry_url = httpx.URL(self.base_url)
        same_origin = (target.scheme, target.host, target.port) == (
            registry_url.scheme,
            registry_url.host,
            registry_url.port,
        )
        return target, auth if same_origin else None

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


def _too_large(what: str, registry: str) -> ManifestError:
    return ManifestError(
        f"{what}: {registry} serves a manifest over the {MAX_MANIFEST_BYTES}-byte limit; refusing to copy it"
    )


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
        retry_after=response.headers.get("retry-after"),
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


def error_codes(response: httpx.Response) -> set[str]:
    return {d.code for d in _error_details(response)}


def _media_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip() or None
