"""Digest-checked reads: what every layer above takes from a storage, proven against the digest asked for.

A manifest is hashed before it is parsed, and held to its descriptor's size and to
`Docker-Content-Digest`; a blob is hashed as its bytes pass. The engine, the referrers
and the forensics all read through these, so the checks live once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from ..errors import (
    DigestMismatchError,
    IncompleteSourceError,
    ManifestError,
    NotFoundError,
    PromoteError,
    UsageError,
)
from ..types.body import close_body
from ..types.digest import Digest, DigestVerifier, compute
from ..types.media import Descriptor, Manifest, parse_manifest
from .base import Storage, StoredManifest


def verified_manifest(
    raw: bytes,
    where: str,
    *,
    requested: Digest | None,
    declared: str | None,
    header_digest: str | None = None,
    size: int | None = None,
) -> Manifest:
    """Parse manifest bytes after proving they are the bytes that were asked for.

    A source that answers a digest request with other bytes is refused, and so
    is one whose `Docker-Content-Digest` disagrees with the bytes it sent.
    """
    algorithm = requested.algorithm if requested else "sha256"
    actual = compute(raw, algorithm)
    if requested is not None and actual != requested:
        raise DigestMismatchError(
            f"{where} served a manifest whose bytes hash to {actual}, not the {requested} "
            "that was asked for; refusing to copy it",
            expected=str(requested),
            got=str(actual),
        )
    if size is not None and len(raw) != size:
        raise DigestMismatchError(
            f"{where}: manifest {actual} is {len(raw)} bytes, its descriptor says {size}",
            expected=f"{size} bytes",
            got=f"{len(raw)} bytes",
        )
    if header_digest and header_digest.startswith(f"{algorithm}:") and header_digest != str(actual):
        raise DigestMismatchError(
            f"{where} says the manifest digest is {header_digest}, but its bytes hash to {actual}",
            expected=header_digest,
            got=str(actual),
        )
    return parse_manifest(raw, declared=declared, digest=actual)


async def load_top(source: Storage, target: str, requested: Digest | None, where: str) -> Manifest:
    stored = await source.get_manifest(target)
    return verified_manifest(
        stored.raw, where, requested=requested, declared=stored.media_type, header_digest=stored.digest_header
    )


async def load_child(source: Storage, descriptor: Descriptor, where: str) -> Manifest:
    try:
        stored = await source.get_manifest(str(descriptor.digest))
    except NotFoundError:
        raise IncompleteSourceError(
            f"{where}: child manifest {descriptor.digest}"
            f"{f' ({descriptor.platform})' if descriptor.platform else ''} is missing at the "
            "source, so the index cannot be copied whole",
            missing=str(descriptor.digest),
        ) from None
    return verified_manifest(
        stored.raw,
        where,
        requested=descriptor.digest,
        declared=stored.media_type or descriptor.media_type,
        header_digest=stored.digest_header,
        size=descriptor.size,
    )


async def stored_or_none(storage: Storage, target: str) -> StoredManifest | None:
    """The manifest at a tag or digest, or None when there is none (a layout calls an unknown
    tag a usage error, a registry answers 404)."""
    try:
        return await storage.get_manifest(target)
    except (NotFoundError, UsageError):
        return None


async def verified_blob(
    source: Storage, blob: Descriptor, report: Callable[[int], None]
) -> AsyncIterator[bytes]:
    """Stream a blob from the source, checking size and digest as the bytes pass."""
    verifier = DigestVerifier(blob.digest, blob.size)
    report(0)
    try:
        try:
            async for chunk in source.open_blob(blob):
                verifier.update(chunk)
                report(verifier.size)
                yield chunk
        except NotFoundError:
            raise IncompleteSourceError(
                f"{source.description}: blob {blob.digest} is missing at the source", missing=str(blob.digest)
            ) from None
        verifier.verify(f"{source.description}: blob")
    except PromoteError as e:
        e.from_source = True  # raised in a destination's upload, but not the destination's fault
        raise


async def read_blob(storage: Storage, descriptor: Descriptor, *, limit: int, where: str) -> bytes:
    """The whole blob, refused above `limit` and checked against its size and digest."""
    if descriptor.size > limit:
        raise ManifestError(
            f"{where}: blob {descriptor.digest} is {descriptor.size} bytes, over the "
            f"{limit}-byte limit for what is read whole; refusing to read it"
        )
    verifier = DigestVerifier(descriptor.digest, descriptor.size)
    parts = []
    async for chunk in storage.open_blob(descriptor):
        verifier.update(chunk)  # raises as soon as more bytes arrive than the descriptor says
        parts.append(chunk)
    verifier.verify(f"{where}: blob")
    return b"".join(parts)


async def read_prefix(storage: Storage, descriptor: Descriptor, length: int) -> bytes:
    """The first `length` bytes of a blob; the rest is never downloaded."""
    stream = storage.open_blob(descriptor)
    data = b""
    try:
        async for chunk in stream:
            data += chunk
            if len(data) >= length:
                break
    finally:
        await close_body(stream)
    return data[:length]
