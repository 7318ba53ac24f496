"""Referrers API and tag list answers, read as data (recorded and hand-made answers).

Quirks no test registry shows (303s, HTML pages, ``Link`` pages) are tested here with
answers shaped as the spec and real registries give them; the API itself runs against olareg
in tests/integration/test_referrers_api.py.
"""

from __future__ import annotations

import json

import pytest

from oci_promote.referrers import ApiUnavailable, ReferrersListingError, ReferrersPage
from oci_promote.transport.referrers_api import (
    next_link,
    read_referrers_answer,
    read_tags_answer,
    referrers_path,
    tags_path,
)

D1 = "sha256:" + "a1" * 32
D2 = "sha256:" + "b2" * 32
URL = "https://reg.example/v2/app/referrers/sha256:" + "00" * 32
INDEX = "application/vnd.oci.image.index.v1+json"


def _index(*entries: dict[str, object]) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": list(entries)}).encode()


def _entry(digest: str, artifact_type: str | None = None, **annotations: str) -> dict[str, object]:
    entry: dict[str, object] = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest,
        "size": 10,
    }
    if artifact_type:
        entry["artifactType"] = artifact_type
    if annotations:
        entry["annotations"] = annotations
    return entry


def test_a_200_index_is_a_page_with_descriptors() -> None:
    body = _index(_entry(D1, "application/spdx+json", **{"org.example": "x"}), _entry(D2))
    page = read_referrers_answer(200, {"Content-Type": INDEX}, body, URL)
    assert isinstance(page, ReferrersPage)
    assert [str(d.digest) for d in page.descriptors] == [D1, D2]
    assert page.descriptors[0].artifact_type == "application/spdx+json"
    assert page.descriptors[0].annotation_map == {"org.example": "x"}
    assert (page.next_url, page.filtered) == (None, False)


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (404, {}, b'{"errors":[{"code":"NAME_UNKNOWN"}]}'),  # distribution 2.8, GHCR
        (303, {"Location": "https://elsewhere.example/"}, b""),  # redirect to a rate-limited endpoint
        (401, {}, b""),
        (500, {}, b""),
        (200, {"Content-Type": "text/html"}, b"<html>catch-all</html>"),
        (200, {"Content-Type": INDEX}, b"not json"),
        (200, {"Content-Type": "application/json"}, b'{"tags": []}'),
        (
            200,
            {},
            json.dumps({"mediaType": "application/vnd.oci.image.manifest.v1+json", "manifests": []}).encode(),
        ),
    ],
)
def test_anything_but_a_200_index_means_fall_back(status: int, headers: dict[str, str], body: bytes) -> None:
    assert isinstance(read_referrers_answer(status, headers, body, URL), ApiUnavailable)


def test_an_empty_list_is_an_answer_not_a_fallback() -> None:
    page = read_referrers_answer(200, {"content-type": f"{INDEX}; charset=utf-8"}, _index(), URL)
    assert page == ReferrersPage(())


def test_filters_applied_header_is_read_case_insensitively() -> None:
    page = read_referrers_answer(200, {"oci-filters-applied": "annotations, artifactType"}, _index(), URL)
    assert isinstance(page, ReferrersPage) and page.filtered


def test_unusable_entries_are_skipped_not_fatal() -> None:
    body = _index(_entry(D1), {"digest": "sha256:short", "mediaType": "x", "size": 1}, {"size": -1}, "junk")  # type: ignore[arg-type]
    page = read_referrers_answer(200, {}, body, URL)
    assert isinstance(page, ReferrersPage) and [str(d.digest) for d in page.descriptors] == [D1]


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ('</v2/app/referrers/x?n=2&last=b>; rel="next"', "https://reg.example/v2/app/referrers/x?n=2&last=b"),
        ('<https://cdn.example/page2>; rel="next"', "https://cdn.example/page2"),
        ("<page2>; rel=next", "https://reg.example/v2/app/referrers/page2"),
        ('<https://a/prev>; rel="prev", <https://a/next>; rel="next"', "https://a/next"),
        ('<https://a/x>; rel="first next"', "https://a/x"),
        ('<https://a/prev>; rel="prev"', None),
        ("", None),
    ],
)
def test_next_link(link: str, expected: str | None) -> None:
    assert next_link({"Link": link} if link else {}, URL) == expected


def test_paths() -> None:
    from oci_promote.types.digest import parse_digest

    subject = parse_digest(D1)
    assert referrers_path("a/b", subject) == f"/v2/a/b/referrers/{D1}"
    assert referrers_path("a", subject, "application/spdx+json") == (
        f"/v2/a/referrers/{D1}?artifactType=application%2Fspdx%2Bjson"
    )
    assert tags_path("a") == "/v2/a/tags/list?n=1000"
    assert tags_path("a", n=5000, last="v1.0") == "/v2/a/tags/list?n=1000&last=v1.0"
    assert tags_path("a", n=0) == "/v2/a/tags/list?n=1"


def test_tag_pages() -> None:
    url = "http://127.0.0.1:5000/v2/app/tags/list?n=2"
    # What distribution 2.8.2 answers to n=2 with more tags left (recorded).
    headers = {"Link": '</v2/app/tags/list?last=b&n=2>; rel="next"', "Content-Type": "application/json"}
    tags, next_url = read_tags_answer(200, headers, b'{"name":"app","tags":["a","b"]}', url)
    assert tags == ("a", "b")
    assert next_url == "http://127.0.0.1:5000/v2/app/tags/list?last=b&n=2"
    assert read_tags_answer(200, {}, b'{"name":"app","tags":null}', url) == ((), None)
    assert read_tags_answer(404, {}, b"", url) == ((), None)
    with pytest.raises(ReferrersListingError):
        read_tags_answer(500, {}, b"", url)
    with pytest.raises(ReferrersListingError):
        read_tags_answer(200, {}, b"<html>", url)


def test_an_index_with_null_manifests_is_an_empty_page() -> None:
    """olareg v0.1.2 answers a subject without referrers with Go's nil slice (recorded answer);
    that is "no referrers", not "no referrers API" (which would turn the API off for the whole
    registry and lose every referrer found after it)."""
    body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":null}\n'
    page = read_referrers_answer(200, {"Content-Type": INDEX}, body, URL)
    assert isinstance(page, ReferrersPage) and page.descriptors == ()
    without_type = b'{"schemaVersion":2,"manifests":null}'
    assert isinstance(read_referrers_answer(200, {"Content-Type": INDEX}, without_type, URL), ReferrersPage)
    not_an_index = b'{"manifests":null}'
    assert isinstance(read_referrers_answer(200, {"Content-Type": INDEX}, not_an_index, URL), ApiUnavailable)
