"""Referrers inside the copy, on the in-memory storage: order, all-or-nothing, no-op, options.

The source holds an index with an SBOM (an OCI artifact with ``subject``, listed in the
tag schema index ``sha256-<hex>``), a signature on that SBOM, and a cosign-style ``.sig``
digest tag on the image. What reaches real registries is in tests/integration.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from oci_promote.engine.copy import Endpoint, Source, run_copy
from oci_promote.errors import PromoteError, RegistryError
from oci_promote.referrers import MissingReferrersError
from oci_promote.referrers.carry import ReferrerOptions
from oci_promote.referrers.naming import referrers_tag
from oci_promote.result import CopyResult
from oci_promote.storage.memory import MemoryRegistry, MemoryStorage
from oci_promote.types.digest import Digest
from oci_promote.types.media import OCI_INDEX, OCI_MANIFEST
from tests.unit.memory_images import add_blob, add_index, add_manifest

SBOM = "application/spdx+json"
SIGNATURE = "application/vnd.example.signature"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"


def _artifact(
    hub: MemoryRegistry, artifact_type: str, subject: dict[str, Any], payload: bytes
) -> dict[str, Any]:
    config = add_blob(hub, "app", b"{}", EMPTY)
    layer = add_blob(hub, "app", payload, artifact_type)
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": config,
        "layers": [layer],
        "subject": {k: subject[k] for k in ("mediaType", "digest", "size")},
    }
    return {**add_manifest(hub, "app", body, OCI_MANIFEST), "artifactType": artifact_type}


def _schema_index(hub: MemoryRegistry, subject: str, entries: list[dict[str, Any]]) -> None:
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    add_manifest(hub, "app", body, OCI_INDEX, referrers_tag(subject))


@pytest.fixture
def hub() -> MemoryRegistry:
    return MemoryRegistry("src")


@pytest.fixture
def signed(hub: MemoryRegistry) -> dict[str, str]:
    """The image digest and the digests of its referrers."""
    image = add_index(hub, "app", "v1")
    raw, media_type = hub.repositories["app"].manifests[image]
    top = {"mediaType": media_type, "digest": str(image), "size": len(raw)}
    sbom = _artifact(hub, SBOM, top, b'{"spdxVersion": "SPDX-2.3"}')
    _schema_index(hub, str(image), [sbom])
    sbom_sig = _artifact(hub, SIGNATURE, sbom, b"signature over the sbom")
    _schema_index(hub, sbom["digest"], [sbom_sig])
    config = add_blob(hub, "app", b'{"rootfs":{}}', "application/vnd.oci.image.config.v1+json")
    layer = add_blob(hub, "app", b'{"critical":{}}', SIMPLESIGNING)
    body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
    sig_tag = f"sha256-{image.encoded}.sig"
    sig = add_manifest(hub, "app", body, OCI_MANIFEST, sig_tag)
    return {
        "image": str(image),
        "sbom": sbom["digest"],
        "sbom_sig": sbom_sig["digest"],
        "sig": sig["digest"],
        "sig_tag": sig_tag,
    }


def copy(source: MemoryStorage, dests: list[tuple[MemoryStorage, str]], **kwargs: Any) -> CopyResult:
    endpoints = [Endpoint(s.description, t, None, s) for s, t in dests]
    return anyio.run(lambda: run_copy(Source(source, "v1", None, "src/app:v1"), endpoints, **kwargs))


def _children(hub: MemoryRegistry, signed: dict[str, str]) -> set[str]:
    raw, _ = hub.repositories["app"].manifests[Digest(*signed["image"].split(":"))]
    return {m["digest"] for m in json.loads(raw)["manifests"]}


def test_referrers_are_written_after_the_image_and_before_its_tag(
    hub: MemoryRegistry, signed: dict[str, str]
) -> None:
    dst = MemoryRegistry("dst")
    result = copy(hub.storage("app"), [(dst.storage("prod"), "v1")])
    targets = [t for op, _, t in dst.writes() if op == "put_manifest"]
    assert targets[-1] == "v1" and targets.count("v1") == 1
    # the index's children by digest first; the top itself only once, by its tag, last
    # (no extra PUT by digest: a registry accepts referrers before their subject)
    assert signed["image"] not in targets
    children = [str(c) for c in dst.repositories["prod"].manifests if str(c) in _children(hub, signed)]
    last_child = max(targets.index(c) for c in children)
    for digest in (signed["sbom"], signed["sbom_sig"]):
        assert last_child < targets.index(digest) < targets.index("v1")
    sbom_at = targets.index(signed["sbom"])
    assert sbom_at < targets.index(referrers_tag(signed["image"])) < targets.index("v1")
    assert targets.index(signed["sbom_sig"]) < targets.index(referrers_tag(signed["sbom"]))
    assert targets.index(signed["sig_tag"]) < targets.index("v1")
    repo = dst.repositories["prod"]
    assert str(repo.tags[signed["sig_tag"]]) == signed["sig"]
    index = json.loads(repo.manifests[repo.tags[referrers_tag(signed["image"])]][0])
    assert [m["digest"] for m in index["manifests"]] == [signed["sbom"]]
    assert index["manifests"][0]["artifactType"] == SBOM
    # every blob a referrer names is there
    for digest in (signed["sbom"], signed["sbom_sig"], signed["sig"]):
        raw, _ = repo.manifests[Digest(*digest.split(":"))]
        body = json.loads(raw)
        for d in [body["config"], *body["layers"]]:
            assert Digest(*d["digest"].split(":")) in repo.blobs
    d = result.destinations[0]
    assert d.referrers_copied == 3 and d.referrers_present == 0
    assert {(r.digest, r.how) for r in d.referrers} == {
        (signed["sbom"], "tag-schema"),
        (signed["sbom_sig"], "tag-schema"),
        (signed["sig"], "digest-tag"),
    }


def test_a_no_op_rerun_writes_nothing_and_reads_little(hub: MemoryRegistry, signed: dict[str, str]) -> None:
    dst = MemoryRegistry("dst")
    copy(hub.storage("app"), [(dst.storage("prod"), "v1")])
    dst.log.clear()
    result = copy(hub.storage("app"), [(dst.storage("prod"), "v1")])
    assert dst.writes() == []
    assert len(dst.log) <= 5  # the tag, one index per subject, the digest tag
    assert result.destinations[0].referrers_present == 3


def test_new_signature_on_an_image_the_destination_has_is_still_copied(
    hub: MemoryRegistry, signed: dict[str, str]
) -> None:
    dst = MemoryRegistry("dst")
    copy(hub.storage("app"), [(dst.storage("prod"), "v1")], referrers=ReferrerOptions(enabled=False))
    assert signed["sig_tag"] not in dst.repositories["prod"].tags
    result = copy(hub.storage("app"), [(dst.storage("prod"), "v1")])
    assert result.destinations[0].up_to_date
    assert str(dst.repositories["prod"].tags[signed["sig_tag"]]) == signed["sig"]


def test_a_failing_referrer_write_moves_no_tag_anywhere(hub: MemoryRegistry, signed: dict[str, str]) -> None:
    dst = MemoryRegistry("dst")

    def refuse_b(op: str, repo: str, target: str) -> PromoteError | None:
        if op == "put_manifest" and repo == "b" and target == signed["sig_tag"]:
            return RegistryError("dst/b: answered HTTP 500", registry="dst", status=500)
        return None

    dst.fail = refuse_b
    with pytest.raises(PromoteError, match="no tag was moved"):
        copy(hub.storage("app"), [(dst.storage("a"), "v1"), (dst.storage("b"), "v1")])
    assert "v1" not in dst.repositories["a"].tags and "v1" not in dst.repositories["b"].tags


def test_required_type_missing_refuses_before_any_write(hub: MemoryRegistry, signed: dict[str, str]) -> None:
    dst = MemoryRegistry("dst")
    options = ReferrerOptions(required=("application/vnd.dsse.envelope.v1+json",))
    with pytest.raises(MissingReferrersError, match="nothing was copied"):
        copy(hub.storage("app"), [(dst.storage("prod"), "v1")], referrers=options)
    assert dst.writes() == []
    ok = ReferrerOptions(required=(SIMPLESIGNING, SBOM))
    copy(hub.storage("app"), [(dst.storage("prod"), "v1")], referrers=ok)
    assert "v1" in dst.repositories["prod"].tags


def test_no_referrers_and_type_filter(hub: MemoryRegistry, signed: dict[str, str]) -> None:
    dst = MemoryRegistry("dst")
    result = copy(hub.storage("app"), [(dst.storage("off"), "v1")], referrers=ReferrerOptions(enabled=False))
    assert set(dst.repositories["off"].tags) == {"v1"} and result.destinations[0].referrers == []
    result = copy(hub.storage("app"), [(dst.storage("sbom"), "v1")], referrers=ReferrerOptions(types=(SBOM,)))
    # the SBOM and the signature that hangs below it; not the image's .sig
    assert {r.digest for r in result.destinations[0].referrers} == {signed["sbom"], signed["sbom_sig"]}
    assert signed["sig_tag"] not in dst.repositories["sbom"].tags


def test_dry_run_lists_referrers_and_writes_nothing(hub: MemoryRegistry, signed: dict[str, str]) -> None:
    dst = MemoryRegistry("dst")
    result = copy(hub.storage("app"), [(dst.storage("prod"), "v1")], dry_run=True)
    assert dst.writes() == []
    assert result.destinations[0].referrers_copied == 3


def test_destination_index_keeps_its_own_referrer(hub: MemoryRegistry, signed: dict[str, str]) -> None:
    dst = MemoryRegistry("dst")
    theirs = {"mediaType": OCI_MANIFEST, "digest": "sha256:" + "ab" * 32, "size": 3, "artifactType": "x/y"}
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [theirs]}
    add_manifest(dst, "prod", body, OCI_INDEX, referrers_tag(signed["image"]))
    copy(hub.storage("app"), [(dst.storage("prod"), "v1")])
    repo = dst.repositories["prod"]
    index = json.loads(repo.manifests[repo.tags[referrers_tag(signed["image"])]][0])
    assert [m["digest"] for m in index["manifests"]] == [theirs["digest"], signed["sbom"]]
