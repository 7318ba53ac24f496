"""A client for one registry host: the distribution API calls the copy needs.

Each method is one protocol step over the registry's HTTP stack (transport.py),
which owns auth, redirects, retries and error mapping. It knows nothing of
GitHub or of copy plans.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from ..errors import ManifestError, PromoteError, RegistryError
from ..types.digest import Digest
from ..types.media import ACCEPT, MAX_MANIFEST_BYTES, OCI_INDEX
from .auth import RegistryAuth
from .client import ResponseTooLarge, Transport, TransportOptions
from .credentials import Credential
from .errors import error_codes
from .retry import RETRY_STATUSES, Attempts

log = logging.getLogger("oci_promote")


@dataclass(frozen=True)
class ManifestHead:
    #: The registry's Docker-Content-Digest, when it sent one.
    digest: str | None


@dataclass(frozen=True)
class MountResult:
    mounted: bool
    #: Where to upload instead, when the registry opened a session rather than mounting.
    upload_location: str | None


def open_client(
    registry: str, credential: Credential | None, options: TransportOptions, *, max_connections: int
) -> RegistryClient:
    """A client for `registry` with its own connection pool and auth state; close it with `aclose()`."""
    return RegistryClient(Transport(registry, credential, options, max_connections=max_connections))


def manifest_what(repository: str, target: str) -> str:
    """How people write it: `repo:tag`, `repo@sha256:...`."""
    return f"{repository}@{target}" if ":" in target else f"{repository}:{target}"


class RegistryClient:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.registry = transport.registry
        #: OCI-Chunk-Min-Length from the registry's last upload session, if it sent one.
        self.min_chunk_length = 0
        #: The registry answered a manifest PUT with `OCI-Subject`: it indexes referrers itself.
        self.indexes_referrers = False

    @property
    def auth(self) -> RegistryAuth:
        return self.transport.auth

    async def aclose(self) -> None:
        await self.transport.aclose()

    # -- manifests -------------------------------------------------------

    async def head_manifest(self, repository: str, target: str) -> ManifestHead | None:
        """Ask whether `target` exists without downloading it; None when it does not."""
        response = await self.transport.request(
            "HEAD",
            f"/v2/{repository}/manifests/{target}",
            manifest_what(repository, target),
            headers={"Accept": ACCEPT},
            ok=(200, 404),
        )
        if response.status_code == 404:
            return None
        return ManifestHead(response.headers.get("docker-content-digest"))

    async def get_manifest(self, repository: str, target: str) -> tuple[bytes, str | None, str | None]:
        """Return (raw bytes, content type, Docker-Content-Digest); refuse oversized manifests.

        The body is read in pieces and abandoned past the limit, so a hostile
        registry cannot make us buffer an unbounded manifest.
        """
        what = manifest_what(repository, target)
        try:
            response = await self.transport.request(
                "GET",
                f"/v2/{repository}/manifests/{target}",
                what,
                headers={"Accept": ACCEPT},
                ok=(200,),
                max_bytes=MAX_MANIFEST_BYTES,
            )
        except ResponseTooLarge:
            raise ManifestError(
                f"{what}: {self.registry} serves a manifest over the {MAX_MANIFEST_BYTES}-byte limit; "
                "refusing to copy it"
            ) from None
        return (
            response.content,
            _media_type(response.headers.get("content-type")),
            response.headers.get("docker-content-digest"),
        )

    async def put_manifest(self, repository: str, target: str, raw: bytes, media_type: str) -> str | None:
        """Push manifest bytes verbatim; return the registry's Docker-Content-Digest."""
        response = await self.transport.request(
            "PUT",
            f"/v2/{repository}/manifests/{target}",
            manifest_what(repository, target),
            headers={"Content-Type": media_type},
            content=raw,
        )
        if response.headers.get("oci-subject"):
            self.indexes_referrers = True
        echoed: str | None = response.headers.get("docker-content-digest")
        return echoed

    async def list_tags(self, repository: str, *, n: int, last: str | None = None) -> httpx.Response:
        """One page of `tags/list` (404: no such repository yet); the caller reads the answer."""
        params = {"n": str(n), **({"last": last} if last is not None else {})}
        return await self.transport.request(
            "GET", f"/v2/{repository}/tags/list", f"{repository} tags", params=params, ok=(200, 404)
        )

    async def get_referrers(self, repository: str, target: str) -> httpx.Response:
        """`GET /v2/<name>/referrers/<digest>[?artifactType=]` or a `Link` page (absolute URL),
        never following a redirect: any answer but a 200 index means "no referrers API", once
        a status that says "later" (a 503, a 429) has been retried like any other request's."""
        return await self.transport.request(
            "GET",
            target,
            f"{repository} referrers",
            headers={"Accept": OCI_INDEX},
            ok=[s for s in range(200, 600) if s not in RETRY_STATUSES],
            max_bytes=MAX_MANIFEST_BYTES,
            follow_redirects=False,
        )

    async def repository_exists(self, repository: str) -> bool | None:
        """True/False when the registry says so clearly (NAME_UNKNOWN), None when it cannot tell."""
        response = await self.transport.request(
            "GET", f"/v2/{repository}/tags/list", repository, params={"n": "1"}, ok=(200, 404)
        )
        if response.status_code == 200:
            return True
        return False if "NAME_UNKNOWN" in error_codes(response) else None

    # -- blobs -----------------------------------------------------------

    async def blob_exists(self, repository: str, digest: Digest) -> bool:
        response = await self.transport.request(
            "HEAD", f"/v2/{repository}/blobs/{digest}", f"{repository}@{digest}", ok=(200, 404)
        )
        return response.status_code == 200

    async def mount_blob(self, repository: str, digest: Digest, from_repository: str) -> MountResult:
        """Cross-repository mount; a 202 hands back an upload session we can use directly."""
        response = await self.transport.request(
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

    async def start_upload(self, repository: str, *, attempts: Attempts | None = None) -> str:
        """Open an upload session; `attempts` counts every POST of one blob's upload together."""
        response = await self.transport.request(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            repository,
            headers={"Content-Length": "0"},
            ok=(202,),
            attempts=attempts,
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
        with contextlib.suppress(PromoteError):
            await self.transport.request("DELETE", location, "cancel upload", ok=range(200, 600), retry=False)

    async def stream_blob(self, repository: str, digest: Digest) -> AsyncIterator[bytes]:
        """Yield a blob's bytes; a dropped download resumes where it stopped.

        The resumed request asks for `Range: bytes=N-` (redirects are followed again, so
        it reaches blob storage by a fresh URL, without credentials). Only a 206 whose
        Content-Range starts at N continues the stream; any other answer (a 200, a 206
        elsewhere) starts the blob again from byte 0 and the first N bytes are dropped
        as they pass. Either way the caller's digest check sees every byte exactly once.
        A GET that brought new bytes does not count as a failed attempt.
        """
        what = f"{repository}@{digest}"
        attempts = self.transport.retry.start(what)
        received = 0
        while True:
            before = received
            try:
                async with contextlib.aclosing(self._blob_body(repository, digest, received, what)) as body:
                    async for chunk in body:
                        received += len(chunk)
                        yield chunk
                return
            except PromoteError as e:
                await attempts.failed(e, moved=received > before)
                log.info("%s: download interrupted at byte %d (%s); resuming", what, received, e)

    async def _blob_body(
        self, repository: str, digest: Digest, offset: int, what: str
    ) -> AsyncGenerator[bytes, None]:
        """One GET of a blob from `offset` on; redirects are followed by the transport's policy."""
        # The digest is of the stored bytes: ask for them as stored, never re-encoded.
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        path = f"/v2/{repository}/blobs/{digest}"
        response = await self.transport.request(
            "GET", path, what, headers=headers, ok=(200, 206), stream=True
        )
        if response.status_code == 206 and not _resumes_at(response, offset):
            log.info("%s: the server resumed elsewhere than byte %d; starting the blob again", what, offset)
            await response.aclose()
            del headers["Range"]
            response = await self.transport.request(
                "GET", path, what, headers=headers, ok=(200,), stream=True
            )
        try:
            skip = offset if response.status_code == 200 else 0
            with self.transport.errors(what):
                async for chunk in response.aiter_raw():
                    if skip:
                        dropped = min(skip, len(chunk))
                        chunk, skip = chunk[dropped:], skip - dropped
                    if chunk:
                        yield chunk
        finally:
            await response.aclose()


def _resumes_at(response: httpx.Response, offset: int) -> bool:
    """A 206 that continues at `offset`: `Content-Range: bytes N-...` with N = offset."""
    return bool(response.headers.get("content-range", "").startswith(f"bytes {offset}-"))


def _media_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip() or None
