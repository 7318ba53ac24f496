"""An OCI image layout directory as a `Storage`: read as a source, created or extended as a destination.

Blobs land atomically (a temporary file in the blobs directory, fsync, rename)
and only once their bytes match their digest, so a layout never holds a blob
whose name lies. `index.json` lists top manifests, each tag as an
`org.opencontainers.image.ref.name` annotation, as skopeo and regclient write it.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import anyio.to_thread

from ..errors import IncompleteSourceError, ManifestError, NotFoundError, UsageError
from ..events import BlobHow
from ..transport.referrers_api import ApiUnavailable, ReferrersPage
from ..types.body import BodyFactory
from ..types.digest import Digest, DigestVerifier, compute, parse_digest
from ..types.location import LAYOUT_PREFIX, REF_NAME
from ..types.media import MANIFEST_TYPES, MAX_MANIFEST_BYTES, OCI_INDEX, Descriptor, load_json_object
from ..types.referrer import ReferrerDescriptor
from .base import Storage, StoredManifest, TagPage
from .layout_files import create_once, update_index, writing
from .layout_referrers import scan_subjects

_CHUNK = 1024 * 1024
_LAYOUT_FILE = b'{"imageLayoutVersion":"1.0.0"}'


class LayoutStorage:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = anyio.Lock()
        #: Set once opened as a source: then its referrers are found by their `subject`.
        self._referrers: dict[Digest, tuple[ReferrerDescriptor, ...]] | None = None
        self._is_source = False

    @property
    def description(self) -> str:
        return f"{LAYOUT_PREFIX}{self.path}"

    @property
    def identity(self) -> tuple[str, ...]:
        return ("oci", str(self.path.resolve()))

    # -- checks at open time ----------------------------------------------------------------

    def check_source(self) -> None:
        """A source must be a layout already."""
        if not (self.path / "oci-layout").is_file() or not (self.path / "index.json").is_file():
            raise UsageError(f"{self.path} is not an OCI image layout (no oci-layout or index.json)")
        self._entries()
        self._is_source = True

    def check_destination(self) -> None:
        """A destination is a layout, or a directory to make one in: missing or empty."""
        if (self.path / "oci-layout").is_file():
            try:
                self._entries()
            except ManifestError as e:  # the destination named is unusable: a usage error
                raise UsageError(f"destination {self.description}: {e}") from None
        elif self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise UsageError(
                f"{self.path} exists and is not an OCI image layout; name a new or empty directory"
            )

    def default_target(self) -> str:
        """The digest of the layout's only image, for `oci:PATH` with no tag or digest."""
        digests = sorted({str(_entry_digest(e, self.path)) for e in self._entries()})
        if len(digests) != 1:  # one image under two tags is still one image
            raise UsageError(
                f"{self.path} holds {len(digests)} images; name one with oci:PATH:TAG or oci:PATH@DIGEST"
            )
        return digests[0]

    # -- blobs --------------------------------------------------------------------------

    def _blob_path(self, digest: Digest) -> Path:
        return self.path / "blobs" / digest.algorithm / digest.encoded

    async def has_blob(self, digest: Digest) -> bool:
        return self._blob_path(digest).is_file()

    async def open_blob(self, descriptor: Descriptor) -> AsyncIterator[bytes]:
        try:
            handle = await anyio.to_thread.run_sync(self._blob_path(descriptor.digest).open, "rb")
        except FileNotFoundError:
            raise IncompleteSourceError(
                f"{self.description}: blob {descriptor.digest} is missing from the layout",
                missing=str(descriptor.digest),
            ) from None
        try:
            while chunk := await anyio.to_thread.run_sync(handle.read, _CHUNK):
                yield chunk
        finally:
            handle.close()

    def can_mount_from(self, other: Storage) -> bool:
        return False

    async def put_blob(
        self, descriptor: Descriptor, body: BodyFactory, *, mount_from: Storage | None = None
    ) -> BlobHow:
        verifier = DigestVerifier(descriptor.digest, descriptor.size)
        final = self._blob_path(descriptor.digest)
        temp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        with writing(self.description):  # only the writes: the body may read a source layout
            await anyio.to_thread.run_sync(self._ensure_layout)
            handle = await anyio.to_thread.run_sync(temp.open, "wb")
        try:
            async for chunk in body():
                verifier.update(chunk)
                with writing(self.description):
                    await anyio.to_thread.run_sync(handle.write, chunk)
            verifier.verify(f"{self.description}: blob")
            with writing(self.description):
                await anyio.to_thread.run_sync(_commit, handle, temp, final)
        except BaseException:
            with contextlib.suppress(OSError):  # a full disk fails the close's flush too
                handle.close()
            temp.unlink(missing_ok=True)
            raise
        return "copied"

    # -- manifests and tags ---------------------------------------------------------------

    async def has_manifest(self, target: str) -> bool:
        return await self.resolve(target) is not None

    async def resolve(self, target: str) -> Digest | None:
        digest = _as_digest(target)
        if digest is not None:
            return digest if self._blob_path(digest).is_file() else None
        entry = self._tagged(target)
        return _entry_digest(entry, self.path) if entry is not None else None

    async def get_manifest(self, target: str) -> StoredManifest:
        digest = _as_digest(target)
        media_type: str | None = None
        if digest is None:
            entry = self._tagged(target)
            if entry is None:
                raise UsageError(f"tag {target!r} not found in {self.path}; tags there: {self._shown_tags()}")
            digest = _entry_digest(entry, self.path)
            media_type = _media_type(entry.get("mediaType"))
        else:
            media_type = next(
                (_media_type(e.get("mediaType")) for e in self._entries() if e.get("digest") == target), None
            )
        path = self._blob_path(digest)
        try:
            if path.stat().st_size > MAX_MANIFEST_BYTES:  # never read a huge file into memory
                raise ManifestError(
                    f"{self.description}: manifest {digest} is over the {MAX_MANIFEST_BYTES}-byte limit"
                )
            raw = await anyio.to_thread.run_sync(path.read_bytes)
        except FileNotFoundError:
            raise NotFoundError(f"{self.description}: manifest {digest} is missing from the layout") from None
        return StoredManifest(raw, media_type)

    async def put_manifest(
        self, target: str, raw: bytes, media_type: str, *, child: bool = False
    ) -> str | None:
        digest = _as_digest(target) or compute(raw)
        if compute(raw, digest.algorithm) != digest:
            raise ManifestError(f"{self.description}: manifest bytes do not hash to {digest}")
        if not await self.has_blob(digest):
            await self.put_blob(Descriptor(media_type, digest, len(raw)), lambda: _once(raw))
        if child:
            return str(digest)
        entry: dict[str, Any] = {"mediaType": media_type, "digest": str(digest), "size": len(raw)}
        tag = None if _as_digest(target) else target

        def merge(current: bytes | None) -> bytes | None:
            index = self._parse_index(current) if current is not None else _empty_index()
            entries = [e for e in index["manifests"] if isinstance(e, dict)]
            if tag is None:
                if any(e.get("digest") == str(digest) for e in entries):
                    return None
            else:
                entry["annotations"] = {REF_NAME: tag}
                # The tag moves; an untagged entry of the same image is now redundant.
                entries = [e for e in entries if _ref_name(e) != tag]
                entries = [e for e in entries if _ref_name(e) is not None or e.get("digest") != str(digest)]
            index["manifests"] = [*entries, entry]
            return json.dumps(index, indent=2).encode() + b"\n"

        async with self._lock:  # other processes: the file lock in update_index
            with writing(self.description):
                await anyio.to_thread.run_sync(update_index, self.path, merge)
        return str(digest)

    async def list_tags(self, *, last: str | None = None, limit: int | None = None) -> TagPage:
        tags = {t for e in self._entries() if (t := _ref_name(e)) is not None}
        return TagPage.of(list(tags), last=last, limit=limit)

    async def get_referrers(
        self, subject: Digest, artifact_type: str | None, url: str | None
    ) -> ReferrersPage | ApiUnavailable:
        if not self._is_source:  # a destination keeps its referrers in ref.name tags, as it writes them
            return ApiUnavailable("an OCI layout keeps referrers in index.json and ref.name tags")
        if self._referrers is None:
            self._referrers = await anyio.to_thread.run_sync(scan_subjects, self.path)
        found = self._referrers.get(subject, ())
        if artifact_type is not None:
            found = tuple(d for d in found if d.artifact_type == artifact_type)
        return ReferrersPage(found, filtered=artifact_type is not None)

    @property
    def indexes_referrers(self) -> bool:
        return False

    async def holds_anything(self) -> bool | None:
        return (self.path / "index.json").is_file() or (self.path / "blobs").is_dir()

    # -- index.json -------------------------------------------------------------------------

    def _read_index(self) -> dict[str, Any]:
        return self._parse_index((self.path / "index.json").read_bytes())

    def _parse_index(self, raw: bytes) -> dict[str, Any]:
        where = self.path / "index.json"
        index = load_json_object(raw, str(where), bounded=False)
        manifests = index.setdefault("manifests", [])
        if not isinstance(manifests, list):
            raise ManifestError(
                f"{where}: 'manifests' is {type(manifests).__name__}, not a list; the layout is broken"
            )
        return index

    def _entries(self) -> list[dict[str, Any]]:
        if not (self.path / "index.json").is_file():
            return []
        return [e for e in self._read_index()["manifests"] if isinstance(e, dict)]

    def _tagged(self, tag: str) -> dict[str, Any] | None:
        return next((e for e in self._entries() if _ref_name(e) == tag), None)

    def _shown_tags(self) -> str:
        tags = sorted({t for e in self._entries() if (t := _ref_name(e)) is not None})
        shown = ", ".join(tags[:12]) + (f" and {len(tags) - 12} more" if len(tags) > 12 else "")
        return shown or "none"

    def _ensure_layout(self) -> None:
        # oci-layout first, in place: a parallel writer's check_destination then sees a
        # layout, never a directory that is neither empty nor a layout.
        self.path.mkdir(parents=True, exist_ok=True)
        create_once(self.path / "oci-layout", _LAYOUT_FILE)
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)


def _empty_index() -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


def _ref_name(entry: dict[str, Any]) -> str | None:
    annotations = entry.get("annotations")
    name = annotations.get(REF_NAME) if isinstance(annotations, dict) else None
    return name if isinstance(name, str) else None


def _entry_digest(entry: dict[str, Any], path: Path) -> Digest:
    text = entry.get("digest")
    if not isinstance(text, str):
        raise ManifestError(f"{path}/index.json: entry without a digest")
    try:
        return parse_digest(text)
    except UsageError as e:
        raise ManifestError(f"{path}/index.json: {e}") from None


def _media_type(value: Any) -> str | None:
    return value if isinstance(value, str) and value in MANIFEST_TYPES else None


def _as_digest(target: str) -> Digest | None:
    return parse_digest(target) if ":" in target else None


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _commit(handle: BinaryIO, temp: Path, final: Path) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    os.replace(temp, final)
