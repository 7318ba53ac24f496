"""Pushing blob bytes: monolithic first, chunked when a registry refuses, fresh sessions on failure.

A streamed body cannot be replayed once partly sent, so every retry starts
a new upload session and a new source stream (and deletes the abandoned
session). Monolithic PUT is one request per blob; some registries (GHCR)
refuse it, and then PATCH chunks are sent, sized between the registry's
`OCI-Chunk-Min-Length` and a per-registry limit (GHCR answers 416 over 4 MiB).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from urllib.parse import urljoin

import httpx

from ..errors import DigestMismatchError, PromoteError, TransportError
from ..types.digest import Digest
from .distribution import RegistryClient
from .errors import error_codes

log = logging.getLogger("oci_promote")

DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024
_SMALLEST_CHUNK = 64 * 1024
#: Answers to a monolithic PUT that mean "not like this": switch to chunked.
_MONOLITHIC_REFUSED = frozenset({405, 411, 413, 416, 501})
_REFUSAL_CODES = frozenset({"BLOB_UPLOAD_INVALID", "UNSUPPORTED"})

_RANGE = re.compile(r"(?:bytes=)?(\d+)-(\d+)")

BodyFactory = Callable[[], AsyncIterator[bytes]]


class _MonolithicRefused(Exception):
    pass


class BlobUploader:
    """Uploads to one registry; remembers whether it wants chunks and how big they may be."""

    def __init__(
        self, client: RegistryClient, *, chunk_size: int = DEFAULT_CHUNK_SIZE, chunked: bool = False
    ) -> None:
        self.client = client
        self.chunk_size = chunk_size
        self.chunked = chunked

    async def upload(
        self,
        repository: str,
        digest: Digest,
        size: int,
        open_body: BodyFactory,
        what: str,
        *,
        session: str | None = None,
    ) -> None:
        """Upload one blob; a failure after the session opened starts over from a new one.

        A streamed body cannot be replayed, so the requests that carry it are sent once
        each and the upload as a whole is the attempt. The POST that opens a session is
        retried on its own, but its attempts are counted across the whole upload: each
        request is sent at most `attempts` times, and the retries never multiply.
        """
        policy = self.client.transport.retry
        attempts, posts = policy.start(what), policy.start(f"{what}: opening an upload session")
        while True:
            location, session = session, None
            try:
                location = location or await self.client.start_upload(repository, attempts=posts)
                body = open_body()
                try:
                    if self.chunked:
                        await self._chunked(location, digest, body, what)
                    else:
                        await self._monolithic(location, digest, size, body, what)
                finally:
                    await _close(body)  # a broken attempt lets go of its source stream at once
                return
            except _MonolithicRefused:
                await self._abandon(location)
                log.info(
                    "%s refuses monolithic uploads; sending chunks of up to %d bytes",
                    self.client.registry,
                    self.chunk_size,
                )
                self.chunked = True
            except PromoteError as e:
                await self._abandon(location)
                await attempts.failed(e)
                log.info("%s: upload failed (%s); retrying from a new session", what, e)
            except BaseException:
                await self._abandon(location)
                raise

    async def _abandon(self, location: str | None) -> None:
        if location is not None:
            await self.client.cancel_upload(location)

    async def _monolithic(
        self, location: str, digest: Digest, size: int, body: AsyncIterator[bytes], what: str
    ) -> None:
        url = httpx.URL(location).copy_merge_params({"digest": str(digest)})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        response = await self._request("PUT", url, what, content=body, headers=headers)
        if response.status_code in _MONOLITHIC_REFUSED or (
            response.status_code == 400 and error_codes(response) & _REFUSAL_CODES
        ):
            raise _MonolithicRefused
        self._finished(response, digest, what)

    async def _chunked(self, location: str, digest: Digest, body: AsyncIterator[bytes], what: str) -> None:
        offset = 0
        pending = bytearray()
        async for piece in body:
            pending += piece
            while len(pending) >= self._chunk_size:
                chunk = bytes(pending[: self._chunk_size])
                del pending[: self._chunk_size]
                location = await self._patch(location, chunk, offset, what)
                offset += len(chunk)
        if pending:
            location = await self._patch(location, bytes(pending), offset, what)
        # The body generator has verified size and digest by now: only then commit.
        url = httpx.URL(location).copy_merge_params({"digest": str(digest)})
        response = await self._request("PUT", url, what, headers={"Content-Length": "0"})
        self._finished(response, digest, what)

    @property
    def _chunk_size(self) -> int:
        """Never below what the registry asked for (OCI-Chunk-Min-Length)."""
        return max(self.chunk_size, self.client.min_chunk_length)

    async def _patch(self, location: str, chunk: bytes, offset: int, what: str) -> str:
        """Send one chunk; on 416 ask the session how far it got and go on from there."""
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(len(chunk)),
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
        }
        response = await self._request("PATCH", httpx.URL(location), what, content=chunk, headers=headers)
        if response.status_code in (201, 202, 204):
            return _next_location(location, response)
        if response.status_code != 416:
            raise self.client.transport.error(response, what)
        stored = await self._session_offset(location, what)
        if stored == offset + len(chunk):
            return location
        if not offset <= stored < offset + len(chunk) or len(chunk) <= _SMALLEST_CHUNK:
            raise TransportError(
                f"{what}: the upload session lost data (at {stored}, sent {offset})",
                registry=self.client.registry,
            )
        # The registry kept what came before this chunk and refused its size: go smaller.
        self.chunk_size = max(_SMALLEST_CHUNK, len(chunk) // 2)
        log.info(
            "%s refused a %d-byte chunk; using %d-byte chunks",
            self.client.registry,
            len(chunk),
            self.chunk_size,
        )
        rest = chunk[stored - offset :]
        for start in range(0, len(rest), self.chunk_size):
            piece = rest[start : start + self.chunk_size]
            location = await self._patch(location, piece, stored + start, what)
        return location

    async def _session_offset(self, location: str, what: str) -> int:
        response = await self._request("GET", httpx.URL(location), what, headers={})
        if response.status_code not in (200, 204):
            raise self.client.transport.error(response, what)
        # "0-N" means N+1 bytes stored; an empty session says "0-0" or (distribution) "0--1".
        match = _RANGE.fullmatch(response.headers.get("range", "").strip())
        return int(match[2]) + 1 if match and int(match[2]) >= int(match[1]) and match[2] != "0" else 0

    async def _request(
        self,
        method: str,
        url: httpx.URL,
        what: str,
        *,
        headers: dict[str, str],
        content: bytes | AsyncIterator[bytes] | None = None,
    ) -> httpx.Response:
        """Send once, whatever the answer: the statuses are the upload's to interpret."""
        return await self.client.transport.request(
            method, str(url), what, headers=headers, content=content, ok=range(100, 600), retry=False
        )

    def _finished(self, response: httpx.Response, digest: Digest, what: str) -> None:
        if response.status_code not in (201, 204):
            raise self.client.transport.error(response, what)
        echoed = response.headers.get("docker-content-digest")
        if echoed and echoed != str(digest):
            raise DigestMismatchError(
                f"{what}: {self.client.registry} stored the blob as {echoed}, expected {digest}",
                expected=str(digest),
                got=echoed,
            )


async def _close(body: AsyncIterator[bytes]) -> None:
    close = getattr(body, "aclose", None)
    if close is not None:
        await close()


def _next_location(current: str, response: httpx.Response) -> str:
    """Each answer may move the session; a relative Location is resolved, its query kept."""
    location = response.headers.get("location")
    return urljoin(current, str(location)) if location else current
