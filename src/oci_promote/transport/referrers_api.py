"""The referrers API and the tag list, described in data: URLs to ask, answers to read.

Pure functions over (status, headers, body, request URL), so the registry storage stays a
thin caller and every quirk is unit-tested with recorded answers. What counts as "the
referrers API exists" follows the spec strictly: only a 200 whose body is an image index.
A 404 (distribution 2.8, GHCR), a 303 to a rate-limited endpoint, a 200 with an HTML page
or anything else means *fall back to the tag schema*, and the caller remembers that per
registry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urljoin

from ..errors import ReferrersListingError
from ..types.digest import Digest
from ..types.media import OCI_INDEX
from ..types.referrer import ReferrerDescriptor, parse_index_descriptor

#: Largest page we ask for when listing tags; registries cap ``n`` (distribution: 1000
#: unless configured, ECR: 1000) and answer an error above their cap.
MAX_TAGS_PAGE = 1000
_LINK = re.compile(r"<(?P<url>[^>]*)>(?P<params>[^,<]*)")
_REL_NEXT = re.compile(r';\s*rel\s*=\s*"?(?:[^";,]*\s)?next(?:\s[^";,]*)?"?', re.IGNORECASE)


@dataclass(frozen=True)
class ReferrersPage:
    """One page of a referrers API answer."""

    descriptors: tuple[ReferrerDescriptor, ...]
    #: Absolute URL of the next page (from ``Link: <...>; rel="next"``), or None.
    next_url: str | None = None
    #: True when the registry says it applied the ``artifactType`` filter we asked for.
    filtered: bool = False


@dataclass(frozen=True)
class ApiUnavailable:
    """The registry has no usable referrers API: use the tag schema instead."""

    reason: str


def referrers_path(repository: str, subject: Digest, artifact_type: str | None = None) -> str:
    """``/v2/<name>/referrers/<digest>``, with ``?artifactType=`` when filtering."""
    path = f"/v2/{repository}/referrers/{subject}"
    return f"{path}?{urlencode({'artifactType': artifact_type})}" if artifact_type else path


def tags_path(repository: str, *, n: int = MAX_TAGS_PAGE, last: str | None = None) -> str:
    """``/v2/<name>/tags/list?n=N[&last=TAG]`` with ``n`` clamped to 1..MAX_TAGS_PAGE."""
    query = {"n": str(max(1, min(n, MAX_TAGS_PAGE)))}
    if last is not None:
        query["last"] = last
    return f"/v2/{repository}/tags/list?{urlencode(query, quote_via=quote)}"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header value by case-insensitive name, from any mapping (httpx.Headers or dict)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def next_link(headers: Mapping[str, str], request_url: str) -> str | None:
    """The ``rel="next"`` target of a Link header (RFC 8288), resolved against the request URL.

    Registries send it relative (distribution: ``</v2/...>``) or absolute; some send several
    links in one header. Anything without rel=next is ignored."""
    value = header(headers, "Link")
    if not value:
        return None
    for match in _LINK.finditer(value):
        if _REL_NEXT.search(match["params"]):
            target = match["url"].strip()
            return urljoin(request_url, target) if target else None
    return None


def read_referrers_answer(
    status: int, headers: Mapping[str, str], body: bytes, request_url: str
) -> ReferrersPage | ApiUnavailable:
    """Turn one referrers API answer into a page, or into "fall back to the tag schema"."""
    if status != 200:
        return ApiUnavailable(f"referrers API answered {status}")
    content_type = (header(headers, "Content-Type") or "").split(";")[0].strip().lower()
    if content_type and content_type not in (OCI_INDEX, "application/json"):
        return ApiUnavailable(f"referrers API answered 200 with Content-Type {content_type!r}")
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return ApiUnavailable("referrers API answered 200 with a body that is not JSON")
    if not isinstance(parsed, dict) or not _lists_manifests(parsed):
        return ApiUnavailable("referrers API answered 200 with a body that is not an image index")
    media_type = parsed.get("mediaType")
    if media_type is not None and media_type != OCI_INDEX:
        return ApiUnavailable(f"referrers API answered 200 with a {media_type!r} body")
    descriptors = tuple(d for d in map(parse_index_descriptor, parsed["manifests"] or []) if d is not None)
    applied = {f.strip().lower() for f in (header(headers, "OCI-Filters-Applied") or "").split(",")}
    return ReferrersPage(descriptors, next_link(headers, request_url), "artifacttype" in applied)


def _lists_manifests(parsed: dict[str, object]) -> bool:
    """A list of manifests; or ``null`` in what says it is an index (olareg v0.1.2 answers Go's
    nil slice for a subject without referrers: an empty list, not a missing API)."""
    manifests = parsed.get("manifests", ())
    if isinstance(manifests, list):
        return True
    return manifests is None and (parsed.get("mediaType") == OCI_INDEX or parsed.get("schemaVersion") == 2)


def read_tags_answer(
    status: int, headers: Mapping[str, str], body: bytes, request_url: str
) -> tuple[tuple[str, ...], str | None]:
    """One page of ``tags/list``: its tags and the next page's URL. A 404 (no such repository
    yet) is an empty list."""
    if status == 404:
        return (), None
    if status != 200:
        raise ReferrersListingError(f"tag list {request_url} answered {status}")
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ReferrersListingError(f"tag list {request_url} is not JSON") from None
    tags = parsed.get("tags") if isinstance(parsed, dict) else None
    listed = tuple(t for t in (tags or []) if isinstance(t, str))
    return listed, next_link(headers, request_url)
