"""The registry storage turns distribution's ``Link`` next page into the storage's ``last`` cursor.

distribution 2.8.2 ignores ``n``/``last`` (one page), so this conversion cannot be seen on
the real registry of the integration tests; here the client answers recorded pages.
"""

from __future__ import annotations

from typing import Any, cast

import anyio
import httpx

from oci_promote.referrers.discover import list_tags
from oci_promote.storage.registry import RegistryStorage
from oci_promote.transport.distribution import RegistryClient

PAGES = {None: ["a", "b"], "b": ["c", "d"], "d": ["e"]}


class RecordedClient:
    registry = "reg.example"

    def __init__(self) -> None:
        self.asked: list[tuple[int, str | None]] = []

    async def list_tags(self, repository: str, *, n: int, last: str | None = None) -> httpx.Response:
        self.asked.append((n, last))
        tags = PAGES[last]
        headers = {}
        if tags[-1] in PAGES:
            headers["Link"] = f'</v2/{repository}/tags/list?last={tags[-1]}&n={n}>; rel="next"'
        request = httpx.Request("GET", f"http://reg.example/v2/{repository}/tags/list")
        return httpx.Response(200, json={"name": repository, "tags": tags}, headers=headers, request=request)


def test_link_pages_become_last_cursors_and_every_tag_is_listed() -> None:
    client = RecordedClient()
    storage = RegistryStorage(cast(RegistryClient, client), cast(Any, None), "app")

    async def run() -> list[str]:
        return [t async for t in list_tags(storage, 2)]

    assert anyio.run(run) == ["a", "b", "c", "d", "e"]
    assert client.asked == [(2, None), (2, "b"), (2, "d")]
