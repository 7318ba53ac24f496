"""Redirect credential policy: credentials stay with the registry; HTTPS never drops to HTTP.

Moved from tests/integration/test_quirks.py when the policy moved into the transport stack.
"""

from __future__ import annotations

import httpx
import pytest

from oci_promote.errors import TransportError
from oci_promote.transport.client import redirect_target

BASE = "https://registry.example"


def test_https_to_http_redirect_is_refused() -> None:
    blob_url = httpx.URL("https://registry.example/v2/a/blobs/x")
    downgrade = httpx.Response(307, headers={"Location": "http://cdn.example/blob"})
    with pytest.raises(TransportError, match="refusing a redirect from HTTPS to http"):
        redirect_target(blob_url, downgrade, BASE, None, "blob", "registry.example")
    elsewhere = httpx.Response(307, headers={"Location": "https://cdn.example/blob"})
    target, auth = redirect_target(
        blob_url, elsewhere, BASE, httpx.BasicAuth("u", "p"), "blob", "registry.example"
    )
    assert target.host == "cdn.example" and auth is None  # credentials stay with the registry
    same = httpx.Response(307, headers={"Location": "/v2/a/blobs/y"})
    credentials = httpx.BasicAuth("u", "p")
    assert redirect_target(blob_url, same, BASE, credentials, "blob", "registry.example") == (
        httpx.URL("https://registry.example/v2/a/blobs/y"),
        credentials,
    )
