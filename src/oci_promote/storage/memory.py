"""An in-memory registry: the storage protocol with nothing behind it (public, like
oras-go's `content/memory`), for unit tests of the engine, the referrers and the forensics.

It records every call (`log`) so tests can assert the order of a copy and what was
asked, and can be told to fail an operation (`fail`), so failure paths run in
milliseconds. A repository answers the referrers API from `referrers` (pages per
subject) when that is set, else says it has none (then the tag schema is used).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from ..errors import NotFoundError, PromoteError
from ..events import BlobHow
from ..transport.referrers_api import ApiUnavailable, ReferrersPage
from ..types.body import BodyFactory
from ..types.digest import Digest, DigestVerifier, compute, parse_digest
from ..types.media import Descriptor
from .base import Storage, StoredManifest, TagPage

#: (operation, repository, target) -> an error to raise instead, or None.
FailHook = Callable[[str, str, str], PromoteError | None]


@dataclass
class MemoryRepository:
    blobs: dict[Digest, bytes] = field(default_factory=dict)
    manifests: dict[Digest, tuple[bytes, str]] = field(default_factory=dict)
    tags: dict[str, Digest] = field(default_factory=dict)
    #: The referrers API's answers, subject -> its pages; None: no referrers API.
    referrers: dict[Digest, list[ReferrersPage]] | None = None


@dataclass
class MemoryRegistry:
    name: str = "memory"
    repositories: dict[str, MemoryRepository] = field(default_factory=dict)
    #: Every call, in order: (operation, repository, target).
    log: list[tuple[str, str, str]] = field(default_factory=list)
    fail: FailHook | None = None
    #: The referrers API says it applied an `artifactType` filter that was asked for.
    filters_applied: bool = False

    def storage(self, repository: str) -> MemoryStorage:
        return MemoryStorage(self, repository)

    def writes(self) -> list[tuple[str, str, str]]:
        return [e for e in self.log if e[0] in ("put_blob", "mount_blob", "put_manifest")]

    def _call(self, operation: str, repository: str, target: str) -> None:
        self.log.append((operation, repository, target))
        error = self.fail(operation, repository, target) if self.fail else None
        if error is not None:
            raise error


class MemoryStorage:
    def __init__(self, registry: MemoryRegistry, repository: str) -> None:
        self.registry = registry
        self.repository = repository

    @property
    def description(self) -> str:
        return f"{self.registry.name}/{self.repository}"

    @property
    def identity(self) -> tuple[str, ...]:
        return ("memory", self.registry.name, self.repository)

    @property
    def _repo(self) -> MemoryRepository:
        return self.registry.repositories.setdefault(self.repository, MemoryRepository())

    async def has_blob(self, digest: Digest) -> bool:
        self.registry._call("has_blob", self.repository, str(digest))
        return digest in self._repo.blobs

    async def open_blob(self, descriptor: Descriptor) -> AsyncIterator[bytes]:
        self.registry._call("open_blob", self.repository, str(descriptor.digest))
        data = self._repo.blobs.get(descriptor.digest)
        if data is None:
            raise NotFoundError(f"{self.description}: blob {descriptor.digest} not found")
        for start in range(0, max(len(data), 1), 1024):
            yield data[start : start + 1024]

    def can_mount_from(self, other: Storage) -> bool:
        return (
            isinstance(other, MemoryStorage)
            and other.registry is self.registry
            and other.repository != self.repository
        )

    async def put_blob(
        self, descriptor: Descriptor, body: BodyFactory, *, mount_from: Storage | None = None
    ) -> BlobHow:
        digest = descriptor.digest
        if isinstance(mount_from, MemoryStorage) and self.can_mount_from(mount_from):
            self.registry._call("mount_blob", self.repository, str(digest))
            if digest in mount_from._repo.blobs:
                self._repo.blobs[digest] = mount_from._repo.blobs[digest]
                return "mounted"
        self.registry._call("put_blob", self.repository, str(digest))
        verifier = DigestVerifier(digest, descriptor.size)
        data = bytearray()
        async for chunk in body():
            verifier.update(chunk)
            data += chunk
        verifier.verify(f"{self.description}: blob")
        self._repo.blobs[digest] = bytes(data)
        return "copied"

    async def has_manifest(self, target: str) -> bool:
        return await self.resolve(target) is not None

    async def resolve(self, target: str) -> Digest | None:
        self.registry._call("resolve", self.repository, target)
        return self._lookup(target)

    def _lookup(self, target: str) -> Digest | None:
        if ":" in target:
            digest = parse_digest(target)
            return digest if digest in self._repo.manifests else None
        return self._repo.tags.get(target)

    async def get_manifest(self, target: str) -> StoredManifest:
        self.registry._call("get_manifest", self.repository, target)
        digest = self._lookup(target)
        if digest is None:
            raise NotFoundError(f"{self.description}:{target}: not found")
        raw, media_type = self._repo.manifests[digest]
        return StoredManifest(raw, media_type, str(digest))

    async def put_manifest(
        self, target: str, raw: bytes, media_type: str, *, child: bool = False
    ) -> str | None:
        self.registry._call("put_manifest", self.repository, target)
        digest = compute(raw)
        self._repo.manifests[digest] = (raw, media_type)
        if ":" not in target:
            self._repo.tags[target] = digest
        return str(digest)

    async def list_tags(self, *, last: str | None = None, limit: int | None = None) -> TagPage:
        self.registry._call("list_tags", self.repository, last or "")
        return TagPage.of(list(self._repo.tags), last=last, limit=limit)

    async def get_referrers(
        self, subject: Digest, artifact_type: str | None, url: str | None
    ) -> ReferrersPage | ApiUnavailable:
        self.registry._call("get_referrers", self.repository, f"{subject} {artifact_type} {url}")
        if self._repo.referrers is None:
            return ApiUnavailable("referrers API answered 404")
        pages = self._repo.referrers.get(subject) or [ReferrersPage(())]
        n = int(url.rpartition("=")[2]) if url else 0
        following = f"memory:{subject}?page={n + 1}" if n + 1 < len(pages) else None
        filtered = self.registry.filters_applied and artifact_type is not None
        return ReferrersPage(pages[n].descriptors, following, filtered)

    @property
    def indexes_referrers(self) -> bool:
        return False

    async def holds_anything(self) -> bool | None:
        self.registry._call("holds_anything", self.repository, "")
        repo = self.registry.repositories.get(self.repository)
        return repo is not None and bool(repo.blobs or repo.manifests)
