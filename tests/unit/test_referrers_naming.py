"""Tag schema names, digest-tag matching, descriptors computed from manifests, types."""

from __future__ import annotations

import json

import pytest

from oci_promote.referrers import MissingReferrersError, Referrer, check_required, referrer_types
from oci_promote.referrers.artifact_types import COSIGN_ATTESTATION, COSIGN_SIGNATURE
from oci_promote.referrers.model import descriptor_for_manifest, manifest_facts
from oci_promote.referrers.naming import cosign_suffix, digest_tags_for, is_valid_tag, referrers_tag
from oci_promote.types.digest import compute, parse_digest

HEX = "a" * 64
SUBJECT = parse_digest(f"sha256:{HEX}")


@pytest.mark.parametrize(
    ("digest", "tag"),
    [  # the spec's own table ("Referrers Tag Schema")
        (f"sha256:{HEX}", f"sha256-{HEX}"),
        ("sha512:" + "a" * 128, "sha512-" + "a" * 64),
        (
            "test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall+truncation:"
            "alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharactersToExcerciseEncodedTruncation",
            "test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot",
        ),
    ],
)
def test_referrers_tag_follows_the_spec_table(digest: str, tag: str) -> None:
    assert referrers_tag(digest) == tag
    assert is_valid_tag(tag)


def test_digest_tags_are_every_tag_with_the_full_prefix_except_the_index() -> None:
    other = "b" * 64
    tags = [
        f"sha256-{HEX}",
        f"sha256-{HEX}.sig",
        f"sha256-{HEX}.att",
        f"sha256-{HEX}.sbom",
        f"sha256-{HEX}.custom",
        f"sha256-{other}.sig",
        "v1",
        f"sha256-{HEX[:10]}.sig",
    ]
    assert digest_tags_for(SUBJECT, tags) == [
        f"sha256-{HEX}.att",
        f"sha256-{HEX}.custom",
        f"sha256-{HEX}.sbom",
        f"sha256-{HEX}.sig",
    ]
    assert [cosign_suffix(t) for t in ("x.sig", "x.att", "x.sbom", "x.custom")] == [
        ".sig",
        ".att",
        ".sbom",
        None,
    ]


def _manifest(**fields: object) -> bytes:
    blob = {"digest": f"sha256:{HEX}", "size": 2}
    body = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", **blob},
        "layers": [{"mediaType": "application/spdx+json", **blob}],
    }
    return json.dumps(body | fields).encode()


def test_descriptor_artifact_type_rules() -> None:
    manifest_type = "application/vnd.oci.image.manifest.v1+json"
    own = _manifest(artifactType="application/spdx+json", annotations={"k": "v"})
    d = descriptor_for_manifest(own, manifest_type)
    assert (d.artifact_type, d.annotation_map, d.digest, d.size) == (
        "application/spdx+json",
        {"k": "v"},
        compute(own),
        len(own),
    )
    assert (
        descriptor_for_manifest(_manifest(), manifest_type).artifact_type
        == "application/vnd.oci.empty.v1+json"
    )
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [],
            "annotations": {"a": "b"},
        }
    ).encode()
    entry = descriptor_for_manifest(index, "application/vnd.oci.image.index.v1+json").to_index_entry()
    assert "artifactType" not in entry and entry["annotations"] == {"a": "b"}
    facts = manifest_facts(
        _manifest(subject={"mediaType": manifest_type, "digest": f"sha256:{HEX}", "size": 3})
    )
    assert facts.subject == SUBJECT and facts.layer_types == ("application/spdx+json",)


def _referrer(artifact_type: str | None, *layers: str) -> Referrer:
    d = descriptor_for_manifest(_manifest(), "application/vnd.oci.image.manifest.v1+json")
    from dataclasses import replace

    return Referrer(SUBJECT, replace(d, artifact_type=artifact_type), "digest-tag", "t", 1, layers)


def test_types_and_requirements() -> None:
    legacy_sig = _referrer("application/vnd.oci.image.config.v1+json", COSIGN_SIGNATURE)
    oci11_sig = _referrer("application/vnd.dev.cosign.artifact.sig.v1+json", COSIGN_SIGNATURE)
    att = _referrer("application/vnd.oci.image.config.v1+json", COSIGN_ATTESTATION)
    assert COSIGN_SIGNATURE in referrer_types(legacy_sig) and COSIGN_SIGNATURE in referrer_types(oci11_sig)
    check_required("img", [legacy_sig, att], [COSIGN_SIGNATURE, COSIGN_ATTESTATION])
    with pytest.raises(MissingReferrersError) as caught:
        check_required("reg/app@sha256:x", [att], [COSIGN_SIGNATURE, "application/spdx+json"])
    assert caught.value.missing == (COSIGN_SIGNATURE, "application/spdx+json")
    assert str(caught.value).startswith("reg/app@sha256:x has no referrer of type")
    with pytest.raises(MissingReferrersError, match="found: none"):
        check_required("img", [], [COSIGN_SIGNATURE])
