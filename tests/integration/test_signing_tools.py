"""The signing helpers work against a real registry, and what each tool writes is on record.

distribution 2.8.2 has no referrers API, so every tool falls back: cosign's legacy mode
writes digest tags (``.sig``, ``.att``, ``.sbom``); cosign's OCI 1.1 and bundle modes, oras
and regctl write manifests with ``subject`` and keep the tag schema index at ``<alg>-<hex>``
(read, merge, write). These tests pin that down, and run our discovery, merge and digest-tag
logic on the real output. The referrers API path runs against olareg in
tests/integration/test_referrers_api.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any, TypeVar

from oci_promote.connect import Connections
from oci_promote.options import ConnectOptions
from oci_promote.referrers import (
    decide_digest_tag,
    descriptor_for_manifest,
    discover_referrers,
    referrers_tag,
    update_referrers_index,
)
from oci_promote.referrers.artifact_types import COSIGN_ATTESTATION, COSIGN_SIGNATURE, SIGSTORE_BUNDLE
from oci_promote.referrers.digest_tags import cosign_config, go_json
from oci_promote.storage import Storage, StoredManifest
from oci_promote.types.digest import compute, parse_digest
from oci_promote.types.location import parse_location
from oci_promote.types.media import Descriptor
from testkit.registry import RunningRegistry
from testkit.signing import SigningWorld, get_manifest, list_tags, push_image

OCI_EMPTY = "application/vnd.oci.empty.v1+json"
COSIGN_OCI11 = "application/vnd.dev.cosign.artifact.sig.v1+json"
SPDX = "application/spdx+json"


T = TypeVar("T")


def _on(registry: RunningRegistry, repository: str, work: Callable[[Storage], Awaitable[T]]) -> T:
    """Run `work` on the product's storage for `repository` (read and write), in one event loop."""

    async def run() -> T:
        async with AsyncExitStack() as stack:
            location = parse_location(f"{registry.host}/{repository}")
            return await work(Connections(ConnectOptions(), stack).destination(location, None, location))

    return asyncio.run(run())


def _json(raw: bytes | None) -> dict[str, Any]:
    assert raw is not None
    body: dict[str, Any] = json.loads(raw)
    return body


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def test_cosign_legacy_sign_writes_a_sig_tag_and_verifies(
    registry: RunningRegistry, world: SigningWorld
) -> None:
    image = push_image(registry, "app", "v1")
    keys = world.key_pair()
    world.cosign_sign(image.ref, keys)

    sig_tag = f"sha256-{_hex(image.digest)}.sig"
    assert list_tags(registry, "app") == sorted(["v1", sig_tag])
    sig = _json(get_manifest(registry, "app", sig_tag))
    assert sig["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert "subject" not in sig and "artifactType" not in sig
    assert [layer["mediaType"] for layer in sig["layers"]] == [COSIGN_SIGNATURE]
    assert "dev.cosignproject.cosign/signature" in sig["layers"][0]["annotations"]
    payloads = world.cosign_verify(image.ref, keys)
    assert payloads[0]["critical"]["image"]["docker-manifest-digest"] == image.digest


def test_cosign_oci11_and_bundle_modes_fall_back_to_the_tag_schema(
    registry: RunningRegistry, world: SigningWorld
) -> None:
    oci11, bundled = push_image(registry, "app", "a"), push_image(registry, "app", "b")
    keys = world.key_pair()
    mark = registry.mark()
    world.cosign_sign(oci11.ref, keys, mode="oci-1-1")
    probes = [e for e in registry.requests_since(mark) if "/referrers/" in e.path]
    assert [(e.method, e.status) for e in probes] == [("GET", 404)]  # cosign asks the API first
    world.cosign_sign(bundled.ref, keys, mode="bundle")

    assert not any(t.endswith(".sig") for t in list_tags(registry, "app"))
    for image, manifest_type in ((oci11, COSIGN_OCI11), (bundled, SIGSTORE_BUNDLE)):
        index = _json(get_manifest(registry, "app", referrers_tag(image.digest)))
        [entry] = index["manifests"]
        referrer = _json(get_manifest(registry, "app", entry["digest"]))
        assert referrer["subject"]["digest"] == image.digest
        assert referrer["artifactType"] == manifest_type
        # cosign 2.6.5 writes the config's mediaType as the bundle's index artifactType
        # (application/vnd.oci.empty.v1+json), not the manifest's artifactType.
        assert entry["artifactType"] == (COSIGN_OCI11 if image is oci11 else OCI_EMPTY)
    world.cosign_verify(oci11.ref, keys, mode="oci-1-1")
    world.cosign_verify(bundled.ref, keys, mode="bundle")

    found = _on(registry, "app", lambda app: discover_referrers(app, [parse_digest(bundled.digest)]))
    [ref] = found.referrers
    assert (ref.how, ref.descriptor.artifact_type, found.used_api) == ("tag-schema", SIGSTORE_BUNDLE, False)


def test_cosign_attestations_and_sbom(registry: RunningRegistry, world: SigningWorld) -> None:
    legacy, bundled = push_image(registry, "app", "a"), push_image(registry, "app", "b")
    keys = world.key_pair()
    world.cosign_attest(legacy.ref, keys)
    world.cosign_attach_sbom(legacy.ref)
    world.cosign_attest(bundled.ref, keys, bundle=True)

    att = _json(get_manifest(registry, "app", f"sha256-{_hex(legacy.digest)}.att"))
    assert [layer["mediaType"] for layer in att["layers"]] == [COSIGN_ATTESTATION]
    assert att["layers"][0]["annotations"]["predicateType"] == "https://spdx.dev/Document"
    sbom = _json(get_manifest(registry, "app", f"sha256-{_hex(legacy.digest)}.sbom"))
    assert [layer["mediaType"] for layer in sbom["layers"]] == ["text/spdx+json"]
    assert world.cosign_verify_attestation(legacy.ref, keys)
    assert world.cosign_verify_attestation(bundled.ref, keys, bundle=True)
    bundle_index = _json(get_manifest(registry, "app", referrers_tag(bundled.digest)))
    bundle = _json(get_manifest(registry, "app", bundle_index["manifests"][0]["digest"]))
    assert bundle["annotations"]["dev.sigstore.bundle.predicateType"] == "https://spdx.dev/Document"

    found = _on(registry, "app", lambda app: discover_referrers(app, [parse_digest(legacy.digest)]))
    assert sorted((r.how, r.tag, r.layer_types) for r in found.referrers) == [
        ("digest-tag", f"sha256-{_hex(legacy.digest)}.att", (COSIGN_ATTESTATION,)),
        ("digest-tag", f"sha256-{_hex(legacy.digest)}.sbom", ("text/spdx+json",)),
    ]


def test_oras_attach_tree_and_discover(registry: RunningRegistry, world: SigningWorld) -> None:
    image = push_image(registry, "app", "v1")
    sbom = world.oras_attach(image.ref, SPDX, json.dumps({"spdxVersion": "SPDX-2.3"}))
    sig = world.oras_attach(
        f"{registry.host}/app@{sbom['digest']}",
        "application/vnd.example.signature",
        "sig",
        annotations={"org.example.signer": "test"},
    )

    assert list_tags(registry, "app") == sorted(
        ["v1", referrers_tag(image.digest), referrers_tag(sbom["digest"])]
    )
    [entry] = _json(get_manifest(registry, "app", referrers_tag(sbom["digest"])))["manifests"]
    sig_raw = get_manifest(registry, "app", sig["digest"])
    assert sig_raw is not None
    # oras writes the spec's descriptor: artifactType and every manifest annotation.
    assert entry == descriptor_for_manifest(sig_raw, entry["mediaType"]).to_index_entry() | {
        k: entry[k] for k in entry if k not in ("artifactType", "annotations", "mediaType", "digest", "size")
    }
    tree = world.oras_discover(image.ref)
    assert [r["digest"] for r in tree["referrers"]] == [sbom["digest"]]
    assert [r["digest"] for r in tree["referrers"][0]["referrers"]] == [sig["digest"]]

    found = _on(registry, "app", lambda app: discover_referrers(app, [parse_digest(image.digest)]))
    assert [(str(r.subject), str(r.digest), r.depth) for r in found.referrers] == [
        (image.digest, sbom["digest"], 1),
        (sbom["digest"], sig["digest"], 2),
    ]


def test_regctl_artifact_put_merges_into_the_existing_index(
    registry: RunningRegistry, world: SigningWorld
) -> None:
    image = push_image(registry, "app", "v1")
    sbom = world.oras_attach(image.ref, SPDX, "{}")
    world.regctl_artifact_put(
        image.ref, "application/vnd.example.vex+json", "{}", annotations={"org.example": "1"}
    )

    listed = world.regctl_artifact_list(image.ref)
    assert [d["artifactType"] for d in listed] == [SPDX, "application/vnd.example.vex+json"]
    assert listed[0]["digest"] == sbom["digest"]
    assert listed[1]["annotations"] == {"org.example": "1"}


def test_attestations_on_the_children_of_an_index(registry: RunningRegistry, world: SigningWorld) -> None:
    image = push_image(registry, "multi", "v1", archs=("amd64", "arm64"))
    keys = world.key_pair()
    for child in image.children:
        world.cosign_attest(image.child_ref(child), keys)
    world.cosign_sign(image.ref, keys)

    subjects = [parse_digest(d) for d in (image.digest, *image.children)]
    found = _on(registry, "multi", lambda multi: discover_referrers(multi, subjects))
    assert sorted((str(r.subject), r.tag) for r in found.referrers) == sorted(
        [(image.digest, f"sha256-{_hex(image.digest)}.sig")]
        + [(child, f"sha256-{_hex(child)}.att") for child in image.children]
    )


def test_our_index_merge_keeps_a_referrer_the_destination_already_had(
    registry: RunningRegistry, world: SigningWorld
) -> None:
    image = push_image(registry, "app", "v1")
    theirs = world.oras_attach(image.ref, SPDX, "{}")
    world.regctl_artifact_put(image.ref, "application/vnd.example.vex+json", "{}")
    vex_entry = _json(get_manifest(registry, "app", referrers_tag(image.digest)))["manifests"][1]
    # Take the vex entry out of the index, as if only the source knew it; our merge adds it back.
    index = _json(get_manifest(registry, "app", referrers_tag(image.digest)))
    index["manifests"] = index["manifests"][:1]
    vex_raw = get_manifest(registry, "app", vex_entry["digest"])
    assert vex_raw is not None
    ours = descriptor_for_manifest(vex_raw, vex_entry["mediaType"])
    subject = parse_digest(image.digest)

    async def put_both(app: Storage) -> bool:
        await app.put_manifest(referrers_tag(image.digest), json.dumps(index).encode(), index["mediaType"])
        await app.put_manifest(vex_entry["digest"], vex_raw, vex_entry["mediaType"])
        return app.indexes_referrers

    # distribution 2.8.2 takes a manifest with subject without a word: no OCI-Subject header.
    assert _on(registry, "app", put_both) is False
    update = _on(registry, "app", lambda app: update_referrers_index(app, subject, [ours]))
    assert (update.writes, [str(d) for d in update.added]) == (1, [vex_entry["digest"]])
    tree = world.oras_discover(image.ref)
    assert [r["digest"] for r in tree["referrers"]] == [theirs["digest"], vex_entry["digest"]]
    again = _on(registry, "app", lambda app: update_referrers_index(app, subject, [ours]))
    assert again.writes == 0  # a re-run writes nothing


def test_cosign_sig_merge_keeps_every_signature_verifiable(
    registry: RunningRegistry, registry2: RunningRegistry, world: SigningWorld
) -> None:
    """Source and destination each gained a signature the other lacks; the merge keeps all."""
    image = push_image(registry, "app", "v1")
    key_a, key_b, key_c = world.key_pair("a"), world.key_pair("b"), world.key_pair("c")
    world.cosign_sign(image.ref, key_a)
    sig_tag = f"sha256-{_hex(image.digest)}.sig"
    world.run("crane", ["copy", "--insecure", f"{registry.host}/app:v1", f"{registry2.host}/app:v1"])
    world.run(
        "crane", ["copy", "--insecure", f"{registry.host}/app:{sig_tag}", f"{registry2.host}/app:{sig_tag}"]
    )
    dest_ref = f"{registry2.host}/app@{image.digest}"
    world.cosign_sign(dest_ref, key_b)
    world.cosign_sign(image.ref, key_c)

    source_raw, dest_raw = get_manifest(registry, "app", sig_tag), get_manifest(registry2, "app", sig_tag)
    assert source_raw is not None and dest_raw is not None
    # Our JSON writer gives cosign's own bytes back, and our config is cosign's config.
    assert go_json(json.loads(dest_raw)) == dest_raw
    dest_body = _json(dest_raw)
    dest_config = world.run(
        "crane", ["blob", "--insecure", f"{registry2.host}/app@{dest_body['config']['digest']}"]
    )
    assert cosign_config(dest_body["layers"]).decode() == dest_config

    kind = "application/vnd.oci.image.manifest.v1+json"
    action = decide_digest_tag(sig_tag, StoredManifest(source_raw, kind), StoredManifest(dest_raw, kind))
    assert action.action == "merge" and action.manifest is not None and action.config is not None
    config, manifest = action.config, action.manifest

    async def body() -> AsyncIterator[bytes]:
        yield config

    async def put(app: Storage) -> None:
        await app.put_blob(Descriptor("application/octet-stream", compute(config), len(config)), body)
        # The source's layer blobs (c's signature payload is the same blob as a's here) exist already.
        await app.put_manifest(sig_tag, manifest, action.media_type)

    _on(registry2, "app", put)
    for keys in (key_a, key_b, key_c):
        world.cosign_verify(dest_ref, keys)
    assert len(_json(get_manifest(registry2, "app", sig_tag))["layers"]) == 3
