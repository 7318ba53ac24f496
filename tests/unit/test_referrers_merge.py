"""The destination's tag schema index merge (and its retry loop), and digest-tag decisions."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pytest

from oci_promote.referrers import (
    DigestTagConflictError,
    ReferrerDescriptor,
    ReferrersError,
    ReferrersIndexConflictError,
    decide_digest_tag,
    merge_index,
    update_referrers_index,
)
from oci_promote.referrers.digest_tags import cosign_config, go_json
from oci_promote.referrers.naming import referrers_tag
from oci_promote.storage import StoredManifest
from oci_promote.storage.memory import MemoryRegistry, MemoryStorage
from oci_promote.types.digest import compute, parse_digest

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SUBJECT = parse_digest("sha256:" + "5" * 64)


def _d(n: int, artifact_type: str = "application/spdx+json", **annotations: str) -> ReferrerDescriptor:
    return ReferrerDescriptor(
        MANIFEST, parse_digest("sha256:" + f"{n:x}" * 64), 100 + n, artifact_type, tuple(annotations.items())
    )


def _manifests(raw: bytes | None) -> list[dict[str, Any]]:
    assert raw is not None
    entries: list[dict[str, Any]] = json.loads(raw)["manifests"]
    return entries


def test_a_new_index_lists_ours_with_artifact_type_and_annotations() -> None:
    merged = merge_index(None, [_d(1, org="x"), _d(2), _d(1)])
    body = json.loads(merged.raw or b"")
    assert (body["schemaVersion"], body["mediaType"]) == (2, INDEX)
    assert body["manifests"] == [
        {
            "mediaType": MANIFEST,
            "digest": str(_d(1).digest),
            "size": 101,
            "artifactType": "application/spdx+json",
            "annotations": {"org": "x"},
        },
        {
            "mediaType": MANIFEST,
            "digest": str(_d(2).digest),
            "size": 102,
            "artifactType": "application/spdx+json",
        },
    ]
    assert merged.added == (_d(1).digest, _d(2).digest)


def test_existing_entries_are_kept_verbatim_and_never_duplicated() -> None:
    theirs = {
        "mediaType": MANIFEST,
        "digest": str(_d(1).digest),
        "size": 101,
        "artifactType": "odd/type",
        "x-unknown": [1, 2],
        "annotations": {"their": "own"},
    }
    existing = json.dumps(
        {"schemaVersion": 2, "mediaType": INDEX, "manifests": [theirs], "annotations": {"index": "kept"}}
    ).encode()
    merged = merge_index(existing, [_d(1), _d(3)])
    body = json.loads(merged.raw or b"")
    assert body["manifests"][0] == theirs  # their descriptor wins over ours for the same digest
    assert [m["digest"] for m in body["manifests"]] == [str(_d(1).digest), str(_d(3).digest)]
    assert body["annotations"] == {"index": "kept"} and merged.added == (_d(3).digest,)
    assert merge_index(merged.raw, [_d(1), _d(3)]).raw is None  # nothing to add: nothing to write


def test_the_source_index_is_copied_verbatim_when_it_lists_exactly_ours() -> None:
    template = (
        b'{"schemaVersion": 2, "mediaType": "'
        + INDEX.encode()
        + b'", "manifests": ['
        + json.dumps(_d(1).to_index_entry()).encode()
        + b"]}"
    )
    assert merge_index(None, [_d(1)], template=template).raw == template
    assert merge_index(None, [_d(1), _d(2)], template=template).raw != template
    existing = merge_index(None, [_d(2)]).raw
    assert merge_index(existing, [_d(1)], template=template).raw != template


def test_a_tag_that_is_not_an_index_is_never_overwritten() -> None:
    with pytest.raises(ReferrersError, match="not an image index"):
        merge_index(json.dumps({"mediaType": MANIFEST, "layers": []}).encode(), [_d(1)], tag="sha256-x")


def _repo() -> MemoryStorage:
    return MemoryRegistry().storage("app")


class RacingRepo(MemoryStorage):
    """After each of our index writes, another client writes its own index over ours."""

    def __init__(self, races: int) -> None:
        super().__init__(MemoryRegistry(), "app")
        self.races = races

    async def put_manifest(
        self, target: str, raw: bytes, media_type: str, *, child: bool = False
    ) -> str | None:
        await super().put_manifest(target, raw, media_type)
        if target == referrers_tag(SUBJECT) and self.races > 0:
            self.races -= 1
            other = [_d(9).to_index_entry() | {"n": self.races}]
            await super().put_manifest(target, json.dumps({"manifests": other}).encode(), INDEX)
        return None


def test_an_index_changed_meanwhile_is_merged_again() -> None:
    repo = RacingRepo(races=2)
    update = asyncio.run(update_referrers_index(repo, SUBJECT, [_d(1), _d(2)]))
    assert update.writes == 3
    final = _manifests(asyncio.run(repo.get_manifest(referrers_tag(SUBJECT))).raw)
    assert [m["digest"] for m in final] == [str(_d(9).digest), str(_d(1).digest), str(_d(2).digest)]


def test_a_race_that_never_ends_is_an_error_after_the_bound() -> None:
    with pytest.raises(ReferrersIndexConflictError, match="changed under us 3 times"):
        asyncio.run(update_referrers_index(RacingRepo(races=99), SUBJECT, [_d(1)], attempts=3))


def test_a_no_op_update_reads_once_and_writes_nothing() -> None:
    repo = _repo()
    asyncio.run(update_referrers_index(repo, SUBJECT, [_d(1)]))
    repo.registry.log.clear()
    assert asyncio.run(update_referrers_index(repo, SUBJECT, [_d(1)])).writes == 0
    assert repo.registry.log == [("get_manifest", "app", referrers_tag(SUBJECT))]


# digest tags ----------------------------------------------------------------------------

SIG = "application/vnd.dev.cosign.simplesigning.v1+json"
TAG = f"sha256-{'5' * 64}.sig"


def _sig_manifest(*signatures: str, layer_type: str = SIG) -> StoredManifest:
    layers = [
        {
            "mediaType": layer_type,
            "size": 235,
            "digest": "sha256:" + "d" * 64,
            "annotations": {"dev.cosignproject.cosign/signature": s},
        }
        for s in signatures
    ]
    config = cosign_config(layers)
    body = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": len(config),
            "digest": f"sha256:{hashlib.sha256(config).hexdigest()}",
        },
        "layers": layers,
    }
    return StoredManifest(go_json(body), MANIFEST)


def test_digest_tag_absent_or_identical() -> None:
    source = _sig_manifest("a")
    assert decide_digest_tag(TAG, source, None).action == "write"
    assert decide_digest_tag(TAG, source, _sig_manifest("a")).action == "keep"


def test_cosign_sig_fast_forward_either_way() -> None:
    one, two = _sig_manifest("a"), _sig_manifest("a", "b")
    forward = decide_digest_tag(TAG, two, one)
    assert (forward.action, forward.manifest) == ("write", two.raw)  # source bytes, verbatim
    assert decide_digest_tag(TAG, one, two).action == "keep"


def test_cosign_sig_divergent_layers_are_merged_like_cosign_appends() -> None:
    action = decide_digest_tag(TAG, _sig_manifest("a", "c"), _sig_manifest("a", "b"))
    assert action.action == "merge" and action.config is not None
    # Exactly what cosign writes when it appends "c" to a .sig holding "a" and "b".
    assert action.manifest == _sig_manifest("a", "b", "c").raw
    assert compute(action.config) == parse_digest(json.loads(action.manifest or b"")["config"]["digest"])


@pytest.mark.parametrize(
    ("tag", "source", "destination"),
    [
        (f"sha256-{'5' * 64}.sbom", _sig_manifest("a"), _sig_manifest("b")),  # an SBOM is no union
        (f"sha256-{'5' * 64}.custom", _sig_manifest("a"), _sig_manifest("b")),
        (TAG, _sig_manifest("a"), _sig_manifest("b", layer_type="text/plain")),  # not cosign's shape
        (TAG, _sig_manifest("a"), StoredManifest(b'{"manifests": []}', INDEX)),
    ],
)
def test_other_digest_tag_conflicts_are_refused(
    tag: str, source: StoredManifest, destination: StoredManifest
) -> None:
    with pytest.raises(DigestTagConflictError, match="refusing to overwrite") as caught:
        decide_digest_tag(tag, source, destination)
    assert caught.value.tag == tag


def test_go_json_escapes_like_encoding_json() -> None:
    assert go_json({"a": "<&>\u2028é", "b": [1]}) == '{"a":"\\u003c\\u0026\\u003e\\u2028é","b":[1]}'.encode()
