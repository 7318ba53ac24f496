"""Pushing blob bytes: monolithic, or resumable PATCHes; chunks when a registry refuses.

A blob up to `STREAM_ABOVE` bytes goes as one monolithic PUT (one request). A
bigger one goes as one PATCH of the whole body and a committing PUT (one more
round trip). When that PATCH breaks, the session is asked how much it holds
(`GET`, `Range: 0-M`, again until it stays put: olareg still writes what its
socket had buffered) and the same session goes on from byte M+1: from the last
bytes sent, kept in memory (each big upload's share of `RESEND_BUDGET`), or, when
M is behind them (the buffers of the link held more: 3-16 MiB through the bench's
two loopback hops), from the source read again up to M (`resend.py`), through the
same digest check. A session that survived a break marks the link as flaky: the
rest of that blob, and every later big blob to the registry, goes in PATCHes of
that share, each held until its 2xx, so a later break costs only the bytes in
flight and never a source read. A healthy link keeps the single PATCH: each
acknowledged one waits a round trip and the registry's turnaround (5-45 ms per
8 MiB measured on loopback).
When the session cannot say (distribution 2.8 drops a session whose PATCH broke
off), and for every failure of a small blob, the upload starts over from a new
session and a new source stream (and deletes the abandoned session). Some
registries (GHCR) refuse a monolithic PUT or a big PATCH; then PATCH chunks are
sent, sized between the registry's `OCI-Chunk-Min-Length` and a per-registry
limit (GHCR answers 416 over 4 MiB).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import urljoin

import anyio
import httpx

from ..errors import DigestMismatchError, PromoteError, TransportError
from ..types.body import BodyFactory, close_body
from ..types.digest import Digest
from .distribution import RegistryClient
from .errors import error_codes
from .resend import ResendWindow
from .retry import Attempts, is_retryable

log = logging.getLogger("oci_promote")

DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024
#: Blobs above this go as one resumable PATCH + PUT; see bench/results.md for the measurement.
STREAM_ABOVE = 32 * 1024 * 1024
#: Bytes held to resend (the last ones of a streamed PATCH, or the whole of an acknowledged
#: one), shared by the big uploads under way: one alone holds 16 MiB (PATCHes of 16 MiB once
#: the link broke), eight at once 2 MiB each. For 8 x 64 MiB layers at --jobs 8, 8 MiB each
#: measured 150-190 MB of peak RSS, a shared 32 MiB 103-152 MB. The gap a break leaves
#: through the bench's relay (3-16 MiB) is mostly within 16 MiB; past it, the source is read.
RESEND_BUDGET = 16 * 1024 * 1024
RESEND_FLOOR = 1024 * 1024
#: After a break, the session's offset is asked again after SETTLE_SECONDS until it stays put.
SETTLE_SECONDS = 0.05
SETTLE_TRIES = 10
_SMALLEST_CHUNK = 64 * 1024
#: Answers to a monolithic PUT that mean "not like this": switch to chunked.
_MONOLITHIC_REFUSED = frozenset({405, 411, 413, 416, 501})
_REFUSAL_CODES = frozenset({"BLOB_UPLOAD_INVALID", "UNSUPPORTED"})

_RANGE = re.compile(r"(?:bytes=)?(\d+)-(\d+)")


class _MonolithicRefused(Exception):
    pass


class _Shares:
    """How many big uploads of this process hold bytes to resend, and so each one's share."""

    uploads = 0

    @classmethod
    def share(cls) -> int:
        return max(RESEND_FLOOR, RESEND_BUDGET // max(1, cls.uploads))


class BlobUploader:
    """Uploads to one registry; remembers whether it wants chunks and how big they may be."""

    def __init__(
        self, client: RegistryClient, *, chunk_size: int = DEFAULT_CHUNK_SIZE, chunked: bool = False
    ) -> None:
        self.client = client
        self.chunk_size = chunk_size
        self.chunked = chunked
        #: A big upload to this registry broke and its session survived: the link is flaky, so
        #: big blobs go in acknowledged PATCHes of their share of `RESEND_BUDGET`, each
        #: resumable at no cost.
        self.acknowledged = False

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
                    elif size > STREAM_ABOVE:
                        window = ResendWindow(body, open_body)
                        _Shares.uploads += 1
                        try:
                            await self._streamed(repository, location, digest, size, window, what, attempts)
                        finally:
                            _Shares.uploads -= 1
                            await window.close()
                    else:
                        await self._monolithic(location, digest, size, body, what)
                finally:
                    await close_body(body)  # a broken attempt lets go of its source stream at once
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

    async def _streamed(
        self,
        repository: str,
        location: str,
        digest: Digest,
        size: int,
        window: ResendWindow,
        what: str,
        attempts: Attempts,
    ) -> None:
        """The whole blob in one PATCH, or in acknowledged ones once the link has broken; a
        broken PATCH resumes at the offset the session holds (see the module doc)."""
        stored, broke = 0, False
        while stored < size:
            acknowledged, share = broke or self.acknowledged, _Shares.share()
            end = min(size, stored + max(share, self.client.min_chunk_length)) if acknowledged else size
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(end - stored),
                "Content-Range": f"{stored}-{end - 1}",
            }
            keep = None if acknowledged else _Shares.share
            error: TransportError | None = None
            try:
                response = await self._request(
                    "PATCH",
                    httpx.URL(location),
                    what,
                    content=window.span(stored, end, keep),
                    headers=headers,
                )
            except TransportError as e:
                if not is_retryable(e):
                    raise
                error = e
            else:
                status = response.status_code
                if not broke and stored == 0 and status in _MONOLITHIC_REFUSED:
                    raise _MonolithicRefused
                if status in (400, 404, 416) and (broke or stored > 0):
                    # 416 or 400 (olareg's "invalid state"): the session moved on after it
                    # answered, still writing the broken PATCH; 404: it was dropped after all
                    # (distribution). Ask again.
                    error = TransportError(
                        f"{what}: the upload session refused the range from byte {stored} (HTTP {status})",
                        registry=self.client.registry,
                    )
                elif status not in (201, 202, 204):
                    raise self.client.transport.error(response, what)
            if error is None:
                location, stored = _next_location(location, response), end
                window.release(stored)
                self.acknowledged |= broke  # the session survived a break: the link is flaky
                continue
            held = await self._settled(location, what)
            if held is None or not stored <= held[0] <= window.pulled:
                raise error  # the session is gone or lost acknowledged bytes: start over
            if not window.holds(held[0]):
                log.info(
                    "%s: the session holds %d bytes, behind those kept; re-reading up to there", what, held[0]
                )
                await window.rewind(held[0])
            log.info("%s: upload broke off; the session holds %d bytes, resuming there", what, held[0])
            await attempts.failed(error, moved=held[0] > stored)
            stored, location = held
            window.release(stored)
            broke = True
        await window.finish()  # the body's own size and digest check, before the commit
        await self._commit(repository, location, digest, size, what, attempts)

    async def _commit(
        self, repository: str, location: str, digest: Digest, size: int, what: str, attempts: Attempts
    ) -> None:
        """The committing PUT of a streamed upload; a broken one is sent again while the session
        still holds the whole blob, and is done if the registry has the blob by now."""
        while True:
            url = httpx.URL(location).copy_merge_params({"digest": str(digest)})
            try:
                response = await self._request("PUT", url, what, headers={"Content-Length": "0"})
            except TransportError as e:
                if not is_retryable(e):
                    raise
                held = await self._held(location, what)
                if held is None or held[0] != size:
                    if await self.client.blob_exists(repository, digest):
                        return  # the PUT got through; its answer did not
                    raise
                await attempts.failed(e)
                location = held[1]
                continue
            self._finished(response, digest, what)
            return

    async def _settled(self, location: str, what: str) -> tuple[int, str] | None:
        """What the session holds once it stopped growing: olareg's handler of the broken PATCH
        still writes what its socket had buffered after the client saw the reset, and a PATCH
        sent from an offset it then passes is refused (416), or worse, lands in between."""
        held = await self._held(location, what)
        for _ in range(SETTLE_TRIES):
            if held is None:
                return None
            await anyio.sleep(SETTLE_SECONDS)
            again = await self._held(held[1], what)
            if again is not None and again[0] == held[0]:
                return again
            held = again
        return held

    async def _held(self, location: str, what: str) -> tuple[int, str] | None:
        """How many bytes the session holds, and its next location; None if it cannot say."""
        try:
            response = await self._request("GET", httpx.URL(location), what, headers={})
        except PromoteError:
            return None
        if response.status_code not in (200, 204):
            return None
        return _stored(response), _next_location(location, response)

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
        return _stored(response)

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


def _stored(response: httpx.Response) -> int:
    """Bytes an upload session holds by its `Range` answer: "0-N" is N+1 bytes; an empty
    session says "0-0" or (distribution) "0--1"."""
    match = _RANGE.fullmatch(response.headers.get("range", "").strip())
    return int(match[2]) + 1 if match and int(match[2]) >= int(match[1]) and match[2] != "0" else 0


def _next_location(current: str, response: httpx.Response) -> str:
    """Each answer may move the session; a relative Location is resolved, its query kept."""
    location = response.headers.get("location")
    return urljoin(current, str(location)) if location else current
