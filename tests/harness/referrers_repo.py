"""A repository of a real registry behind the referrers storage protocol, for tests.

A thin httpx adapter that only joins the pure readers of ``oci_promote.referrers`` to real
HTTP answers, until the product's registry storage implements the protocol itself. It
counts its requests, so tests can say how cheap discovery is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from oci_promote.referrers import ApiUnavailable, ReferrersPage, StoredManifest, TagPage
from oci_promote.referrers.http_answers import (
    read_referrers_answer,
    read_tags_answer,
    referrers_path,
    tags_path,
)
from oci_promote.types.digest import Digest

from .registry import RunningRegistry
from .signing import ACCEPT


@dataclass
class RegistryRepo:
    registry: RunningRegistry
    repo: str
    requests: list[str] = field(default_factory=list)

    @property
    def registry_key(self) -> str:
        return self.registry.host

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.registry.url, trust_env=False, timeout=10, auth=self.registry.creds
        )

    async def _get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        self.requests.append(f"GET {url}")
        async with self._client() as client:
            return await client.get(url, headers=headers, follow_redirects=False)

    async def get_referrers_page(
        self, subject: Digest, artifact_type: str | None, url: str | None
    ) -> ReferrersPage | ApiUnavailable:
        r = await self._get(url or self.registry.url + referrers_path(self.repo, subject, artifact_type))
        return read_referrers_answer(r.status_code, r.headers, r.content, str(r.url))

    async def get_tags_page(self, url: str | None, page_size: int) -> TagPage:
        r = await self._get(url or self.registry.url + tags_path(self.repo, n=page_size))
        return read_tags_answer(r.status_code, r.headers, r.content, str(r.url))

    async def get_manifest(self, reference: str) -> StoredManifest | None:
        r = await self._get(f"/v2/{self.repo}/manifests/{reference}", {"Accept": ACCEPT})
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return StoredManifest(r.content, r.headers.get("Content-Type", ""))

    async def put_manifest(self, reference: str, raw: bytes, media_type: str) -> str | None:
        self.requests.append(f"PUT /v2/{self.repo}/manifests/{reference}")
        async with self._client() as client:
            r = await client.put(
                f"/v2/{self.repo}/manifests/{reference}", content=raw, headers={"Content-Type": media_type}
            )
        r.raise_for_status()
        subject: str | None = r.headers.get("OCI-Subject")
        return subject

    async def put_blob(self, digest: Digest, data: bytes) -> None:
        self.requests.append(f"PUT blob {digest}")
        async with self._client() as client:
            started = await client.post(f"/v2/{self.repo}/blobs/uploads/")
            started.raise_for_status()
            location = httpx.URL(started.headers["Location"])
            done = await client.put(location.copy_merge_params({"digest": str(digest)}), content=data)
        done.raise_for_status()
