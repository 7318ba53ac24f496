"""An OCI image layout directory as a copy source: `oci:PATH[:TAG|@DIGEST]`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .digest import Digest, parse_digest
from .errors import IncompleteSourceError, InvalidReferenceError, ManifestError, UsageError
from .media import MANIFEST_TYPES, MAX_MANIFEST_BYTES, Descriptor, Manifest
from .sources import verified_manifest

LAYOUT_PREFIX = "oci:"
REF_NAME = "org.opencontainers.image.ref.name"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class LayoutReference:
    path: Path
    tag: str | None
    digest: Digest | None

    def __str__(self) -> str:
        suffix = f"@{self.digest}" if self.digest else (f":{self.tag}" if self.tag else "")
        return f"{LAYOUT_PREFIX}{self.path}{suffix}"


def is_layout_reference(text: str) -> bool:
    return text.startswith(LAYOUT_PREFIX)


def parse_layout_reference(text: str) -> LayoutReference:
    """Split `oci:PATH[:TAG|@DIGEST]`; the tag or digest follows the last path component."""
    rest = text[len(LAYOUT_PREFIX) :]
    head, slash, last = rest.rpartition("/")
    tag: str | None = None
    digest: Digest | None = None
    if "@" in last:
        last, _, digest_text = last.partition("@")
        try:
            digest = parse_digest(digest_text)
        except UsageError as e:
            raise InvalidReferenceError(text, str(e)) from None
    elif ":" in last:
        last, _, tag = last.partition(":")
        if not tag:
            raise InvalidReferenceError(text, "empty tag after ':'")
    path_text = head + slash + last
    if not path_text:
        raise InvalidReferenceError(text, "no layout directory given after 'oci:'")
    return LayoutReference(Path(path_text), tag, digest)


class LayoutSource:
    """Reads manifests and blobs from an OCI layout; nothing is ever written to it."""

    def __init__(self, ref: LayoutReference) -> None:
        self.ref = ref
        self.description = str(ref)
        self.registry_location: tuple[str, str] | None = None
        self.tag = ref.tag
        index_path = ref.path / "index.json"
        if not (ref.path / "oci-layout").is_file() or not index_path.is_file():
            raise UsageError(f"{ref.path} is not an OCI image layout (no oci-layout or index.json)")
        try:
            self._index: dict[str, Any] = json.loads(index_path.read_bytes())
        except ValueError as e:
            raise ManifestError(f"{index_path}: not valid JSON: {e}") from None
        if not isinstance(self._index, dict):
            raise ManifestError(f"{index_path}: not a JSON object")

    def top_descriptor(self) -> tuple[Digest, str | None]:
        """Find the image the reference names: by digest, by tag, or the only one."""
        entries = [e for e in self._index.get("manifests") or [] if isinstance(e, dict)]
        if self.ref.digest is not None:
            for entry in entries:
                if entry.get("digest") == str(self.ref.digest):
                    return self.ref.digest, _str_or_none(entry.get("mediaType"))
            return self.ref.digest, None
        if self.ref.tag is not None:
            matches = [e for e in entries if (e.get("annotations") or {}).get(REF_NAME) == self.ref.tag]
            if not matches:
                tags = sorted({str((e.get("annotations") or {}).get(REF_NAME)) for e in entries} - {"None"})
                shown = ", ".join(tags[:12]) + (f" and {len(tags) - 12} more" if len(tags) > 12 else "")
                raise UsageError(
                    f"tag {self.ref.tag!r} not found in {self.ref.path}; tags there: {shown or 'none'}"
                )
            entry = matches[0]
        elif len(entries) == 1:
            entry = entries[0]
        else:
            raise UsageError(
                f"{self.ref.path} holds {len(entries)} images; name one with oci:PATH:TAG or oci:PATH@DIGEST"
            )
        digest_text = entry.get("digest")
        if not isinstance(digest_text, str):
            raise ManifestError(f"{self.ref.path}/index.json: entry without a digest")
        try:
            return parse_digest(digest_text), _str_or_none(entry.get("mediaType"))
        except UsageError as e:
            raise ManifestError(f"{self.ref.path}/index.json: {e}") from None

    def _blob_path(self, digest: Digest) -> Path:
        return self.ref.path / "blobs" / digest.algorithm / digest.encoded

    async def resolve_top(self) -> Manifest:
        digest, declared = self.top_descriptor()
        raw = await self._read_manifest(digest, "manifest")
        return verified_manifest(raw, self.description, requested=digest, declared=declared)

    async def fetch_child(self, descriptor: Descriptor) -> Manifest:
        platform = f" ({descriptor.platform})" if descriptor.platform else ""
        raw = await self._read_manifest(descriptor.digest, f"child manifest{platform}")
        return verified_manifest(
            raw,
            self.description,
            requested=descriptor.digest,
            declared=descriptor.media_type,
            size=descriptor.size,
        )

    async def _read_manifest(self, digest: Digest, what: str) -> bytes:
        path = self._blob_path(digest)
        try:
            if path.stat().st_size > MAX_MANIFEST_BYTES:  # never read a huge file into memory
                raise ManifestError(
                    f"{self.description}: {what} {digest} is over the {MAX_MANIFEST_BYTES}-byte limit"
                )
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise IncompleteSourceError(
                f"{self.description}: {what} {digest} is missing from the layout",
                missing=str(digest),
            ) from None

    async def open_blob(self, descriptor: Descriptor) -> AsyncIterator[bytes]:
        path = self._blob_path(descriptor.digest)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise IncompleteSourceError(
                f"{self.description}: blob {descriptor.digest} is missing from the layout",
                missing=str(descriptor.digest),
            ) from None
        try:
            while chunk := await asyncio.to_thread(handle.read, _CHUNK):
                yield chunk
        finally:
            handle.close()

    def destination_tag(self) -> str | None:
        return self.ref.tag


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value in MANIFEST_TYPES else None
