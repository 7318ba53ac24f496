"""Discovery over the storage protocol: API pages and filters, fallback memory, tag schema,
digest tags, recursion and its depth limit, and what is skipped or refused."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
import pytest

from oci_promote.errors import DigestMismatchError
from oci_promote.referrers import (
    ApiMemory,
    DiscoveryOptions,
    ReferrersPage,
    descriptor_for_manifest,
    discover_referrers,
    list_tags,
    referrers_tag,
)
from oci_promote.referrers.discover import api_listing
from oci_promote.storage import StoredManifest, TagPage
from oci_promote.storage.memory import MemoryRegistry, MemoryStorage
from oci_promote.transport.referrers_api import MAX_TAGS_PAGE
from oci_promote.types.digest import Digest, compute

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SPDX = "application/spdx+json"
SIG = "application/vnd.example.signature"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"


class MemoryRepo(MemoryStorage):
    """One repository of the in-memory registry, with shorthands for these tests."""

    def __init__(self, registry: MemoryRegistry | None = None) -> None:
        super().__init__(registry or MemoryRegistry(), "app")

    def add(self, raw: bytes, media_type: str, tag: str | None = None) -> Digest:
        digest = compute(raw)
        self._repo.manifests[digest] = (raw, media_type)
        if tag:
            self._repo.tags[tag] = digest
        return digest

    def raw(self, digest: Digest) -> bytes:
        return self._repo.manifests[digest][0]

    @property
    def calls(self) -> list[tuple[str, str]]:
        """What was asked, in order: (operation, target)."""
        return [(operation, target) for operation, _, target in self.registry.log]


def _image(repo: MemoryRepo, tag: str = "v1") -> Digest:
    body = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": _blob(tag),
        "layers": [],
        "annotations": {"t": tag},
    }
    return repo.add(json.dumps(body).encode(), MANIFEST, tag)


def _blob(seed: str) -> dict[str, Any]:
    return {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "digest": "sha256:" + "4" * 64,
        "size": len(seed),
    }


def _artifact(
    repo: MemoryRepo, subject: Digest | None, artifact_type: str, note: str = "", *, layer: str | None = None
) -> Digest:
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": artifact_type,
        "config": _blob("x"),
        "layers": [{**_blob("layer"), "mediaType": layer}] if layer else [],
        "annotations": {"note": note},
    }
    if subject is not None:
        body["subject"] = {"mediaType": MANIFEST, "digest": str(subject), "size": 1}
    return repo.add(json.dumps(body).encode(), MANIFEST)


def _tag_schema(
    repo: MemoryRepo, subject: Digest, *referrers: Digest, artifact_type: str | None = None
) -> None:
    entries = []
    for digest in referrers:
        entry = descriptor_for_manifest(repo.raw(digest), MANIFEST).to_index_entry()
        if artifact_type:
            entry["artifactType"] = artifact_type  # what a listing claims, not what the manifest says
        entries.append(entry)
    raw = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}).encode()
    repo.add(raw, INDEX, referrers_tag(subject))


def _api(repo: MemoryRepo, subject: Digest, *pages: list[Digest]) -> None:
    api = repo._repo.referrers = repo._repo.referrers or {}
    api[subject] = [
        ReferrersPage(tuple(descriptor_for_manifest(repo.raw(d), MANIFEST) for d in page)) for page in pages
    ]


def _run(repo: MemoryRepo, subjects: list[Digest], **options: Any):  # type: ignore[no-untyped-def]
    return asyncio.run(discover_referrers(repo, subjects, DiscoveryOptions(**options)))


def test_tag_schema_tree_is_found_depth_first_parents_before_children() -> None:
    repo = MemoryRepo()
    image = _image(repo)
    sbom = _artifact(repo, image, SPDX)
    sig = _artifact(repo, sbom, SIG)
    _tag_schema(repo, image, sbom, artifact_type="application/vnd.oci.empty.v1+json")  # cosign's quirk
    _tag_schema(repo, sbom, sig)
    found = _run(repo, [image])
    assert [(r.subject, r.digest, r.how, r.depth) for r in found.referrers] == [
        (image, sbom, "tag-schema", 1),
        (sbom, sig, "tag-schema", 2),
    ]
    assert found.referrers[0].descriptor.artifact_type == SPDX  # from the manifest, not the listing
    assert found.referrers[0].manifest == repo.raw(sbom)
    assert not found.used_api
    assert [r.digest for r in _run(repo, [image], max_depth=1).referrers] == [sbom]


def test_digest_tags_are_found_by_listing_tags_and_kept_with_their_tag() -> None:
    repo = MemoryRepo()
    image = _image(repo)
    prefix = f"{image.algorithm}-{image.encoded}"
    sig = _artifact(repo, None, "application/vnd.oci.image.config.v1+json")
    repo._repo.tags[f"{prefix}.sig"] = sig
    repo._repo.tags[f"{prefix}.custom"] = sig
    found = _run(repo, [image], tags_page_size=2)
    assert [(r.how, r.tag, r.digest) for r in found.referrers] == [
        ("digest-tag", f"{prefix}.custom", sig),
        ("digest-tag", f"{prefix}.sig", sig),
    ]
    assert sum(c[0] == "list_tags" for c in repo.calls) == 2  # 3 tags, pages of 2
    assert _run(repo, [image], digest_tags=False).referrers == ()


def test_no_op_discovery_asks_only_for_what_exists() -> None:
    repo = MemoryRepo()
    image = _image(repo)
    found = _run(repo, [image])
    assert found.referrers == ()
    # one tag page, one API probe; no GET of a tag schema index that the tag list lacks
    assert sorted(repo.calls) == [("get_referrers", f"{image} None None"), ("list_tags", "")]


def test_api_pages_are_followed_and_the_tag_schema_is_not_read() -> None:
    repo = MemoryRepo()
    image = _image(repo)
    a, b, c = (_artifact(repo, image, t, note) for t, note in ((SPDX, "a"), (SIG, "b"), (SPDX, "c")))
    _api(repo, image, [a, b], [c])
    stale = _artifact(repo, image, "application/vnd.stale")
    _tag_schema(repo, image, stale)
    found = _run(repo, [image])
    assert found.used_api and [r.digest for r in found.referrers] == [a, b, c]
    assert {r.how for r in found.referrers} == {"api"}
    assert ("get_manifest", referrers_tag(image)) not in repo.calls


@pytest.mark.parametrize("server_filters", [True, False])
def test_artifact_type_filter_locally_unless_the_registry_applied_it(server_filters: bool) -> None:
    """api_listing: the spec's filter, asked of the registry, applied here unless it did."""
    repo = MemoryRepo(MemoryRegistry(filters_applied=server_filters))
    image = _image(repo)
    sbom, sig = _artifact(repo, image, SPDX), _artifact(repo, image, SIG)
    _api(repo, image, [sbom] if server_filters else [sbom, sig])
    listed = asyncio.run(api_listing(repo, image, frozenset({SPDX})))
    assert isinstance(listed, tuple) and [d.digest for d in listed] == [sbom]
    assert ("get_referrers", f"{image} {SPDX} None") in repo.calls


def test_the_walk_filters_by_the_type_rule_on_the_fetched_manifest() -> None:
    """One rule, API or tag schema: the walk asks the API unfiltered and keeps what the type
    rule keeps (a layer type counts, as for a cosign OCI 1.1 signature), never trusting the
    listing's artifactType alone."""
    repo = MemoryRepo()
    image = _image(repo)
    sbom, sig = _artifact(repo, image, SPDX), _artifact(repo, image, SIG)
    sig_on_sbom = _artifact(repo, sbom, SIG)
    signed = _artifact(repo, image, "application/vnd.dev.cosign.artifact.sig.v1+json", layer=SIMPLESIGNING)
    _api(repo, image, [sbom, sig, signed])
    _api(repo, sbom, [sig_on_sbom])
    found = _run(repo, [image], artifact_types=frozenset({SPDX}))
    # the filter picks the image's own referrers; what hangs below them comes along
    assert [r.digest for r in found.referrers] == [sbom, sig_on_sbom]
    assert ("get_referrers", f"{image} None None") in repo.calls
    by_layer = _run(repo, [image], artifact_types=frozenset({SIMPLESIGNING}))
    assert [r.digest for r in by_layer.referrers] == [signed]


def test_fallback_is_remembered_per_registry() -> None:
    repo = MemoryRepo()
    one, two = _image(repo, "v1"), _image(repo, "v2")
    memory = ApiMemory()
    asyncio.run(discover_referrers(repo, [one, two], memory=memory))
    assert sum(c[0] == "get_referrers" for c in repo.calls) == 1
    assert memory.knows_absent("memory/memory")
    repo.registry.log.clear()
    asyncio.run(discover_referrers(repo, [one], memory=memory))
    assert not any(c[0] == "get_referrers" for c in repo.calls)


def test_children_of_an_index_are_subjects_too_and_cycles_end() -> None:
    repo = MemoryRepo()
    child1, child2 = _image(repo, "c1"), _image(repo, "c2")
    att1, att2 = _artifact(repo, child1, SPDX), _artifact(repo, child2, SPDX)
    _tag_schema(repo, child1, att1)
    _tag_schema(repo, child2, att2)
    _tag_schema(repo, att1, att1)  # a listing that points a referrer at itself
    found = _run(repo, [child1, child2, child1])
    assert [(r.subject, r.digest) for r in found.referrers] == [(child1, att1), (child2, att2)]
    assert any("its subject is not" in note for note in found.skipped)


def test_listed_but_missing_manifests_are_skipped_with_a_note() -> None:
    repo = MemoryRepo()
    image = _image(repo)
    gone = _artifact(repo, image, SPDX)
    _tag_schema(repo, image, gone)
    del repo._repo.manifests[gone]
    found = _run(repo, [image])
    assert found.referrers == () and "manifest is missing" in found.skipped[0]


def test_a_manifest_served_with_other_bytes_is_refused() -> None:
    repo = MemoryRepo()
    image = _image(repo)
    sbom = _artifact(repo, image, SPDX)
    _tag_schema(repo, image, sbom)
    repo._repo.manifests[sbom] = (repo.raw(sbom) + b" ", MANIFEST)
    with pytest.raises(DigestMismatchError):
        _run(repo, [image])


def test_a_tag_schema_tag_that_is_no_index_yields_nothing() -> None:
    repo = MemoryRepo()
    image = _image(repo)
    repo._repo.tags[referrers_tag(image)] = repo._repo.tags["v1"]
    found = _run(repo, [image])
    assert found.referrers == () and "not an image index" in found.skipped[0]


def test_list_tags_stops_on_a_repeated_page() -> None:
    asked: list[tuple[str | None, int | None]] = []

    class Looping(MemoryRepo):
        async def list_tags(self, *, last: str | None = None, limit: int | None = None) -> TagPage:
            asked.append((last, limit))
            return TagPage(("a",), "a")

    async def collect() -> list[str]:
        return [t async for t in list_tags(Looping())]

    assert asyncio.run(collect()) == ["a", "a"]
    assert asked == [(None, MAX_TAGS_PAGE), ("a", MAX_TAGS_PAGE)]


class _SlowRepo(MemoryRepo):
    """Every manifest GET takes a moment; counts how many are in flight at once."""

    in_flight: int = 0
    most: int = 0

    async def get_manifest(self, target: str) -> StoredManifest:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await anyio.sleep(0.01)
        self.in_flight -= 1
        return await super().get_manifest(target)


def test_discovery_runs_concurrently_within_its_bound() -> None:
    repo = _SlowRepo()
    children = [_image(repo, f"c{n}") for n in range(6)]
    for n, child in enumerate(children):
        _tag_schema(repo, child, _artifact(repo, child, SPDX, f"a{n}"), _artifact(repo, child, SIG, f"s{n}"))
    found = _run(repo, children, concurrency=3)
    assert len(found.referrers) == 12
    assert [r.subject for r in found.referrers] == [c for c in children for _ in range(2)]  # stable order
    assert repo.most == 3


def test_referrers_of_a_childs_referrer_are_walked_to_the_depth_limit() -> None:
    repo = MemoryRepo()
    top, child = _image(repo, "top"), _image(repo, "child")
    att = _artifact(repo, child, SPDX)
    sig = _artifact(repo, att, SIG, "on the attestation")
    sig2 = _artifact(repo, sig, SIG, "on the signature")
    _tag_schema(repo, child, att)
    _tag_schema(repo, att, sig)
    _tag_schema(repo, sig, sig2)
    found = _run(repo, [top, child])
    assert [(r.digest, r.depth) for r in found.referrers] == [(att, 1), (sig, 2), (sig2, 3)]
    assert [r.digest for r in _run(repo, [top, child], max_depth=2).referrers] == [att, sig]
