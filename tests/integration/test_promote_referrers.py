"""Signatures, attestations and SBOMs travel with the promoted image (distribution 2.8.2).

distribution 2.8.2 has no referrers API, so the copy keeps the destination's tag schema
index and cosign's digest tags; signatures are made by the real tools (testkit/
signing.py) and checked at the DESTINATION by the same tools. The referrers API path runs
against olareg in tests/integration/test_referrers_api.py.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

import oci_promote
from oci_promote.cli.main import main
from oci_promote.connect import Connections
from oci_promote.options import ConnectOptions, parse_location
from oci_promote.referrers import Discovery, DiscoveryOptions, discover_referrers, referrers_tag
from oci_promote.referrers.artifact_types import COSIGN_ATTESTATION, COSIGN_SIGNATURE
from oci_promote.types.digest import parse_digest
from testkit.registry import LogMark, RunningRegistry
from testkit.signing import SigningWorld, get_manifest, list_tags, push_image

pytestmark = pytest.mark.usefixtures("no_docker_login")


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def _writes(registry: RunningRegistry, since: LogMark) -> list[tuple[str, str]]:
    return [
        (e.method, e.path) for e in registry.requests_since(since) if e.method in ("PUT", "POST", "PATCH")
    ]


def test_cosign_legacy_signature_and_attestation_verify_at_the_destination(
    registry: RunningRegistry, registry2: RunningRegistry, world: SigningWorld
) -> None:
    image = push_image(registry, "app", "v1")
    keys = world.key_pair()
    world.cosign_sign(image.ref, keys)
    world.cosign_attest(image.ref, keys)
    mark = registry2.mark()

    result = oci_promote.copy(f"{registry.host}/app:v1", [f"{registry2.host}/prod/app:v1"])

    dest = f"{registry2.host}/prod/app@{image.digest}"
    payloads = world.cosign_verify(dest, keys)
    assert payloads[0]["critical"]["image"]["docker-manifest-digest"] == image.digest
    assert world.cosign_verify_attestation(dest, keys)
    prefix = f"sha256-{_hex(image.digest)}"
    assert list_tags(registry2, "prod/app") == sorted(["v1", f"{prefix}.sig", f"{prefix}.att"])
    for suffix in (".sig", ".att"):  # the digest tags arrive byte for byte
        assert get_manifest(registry2, "prod/app", prefix + suffix) == get_manifest(
            registry, "app", prefix + suffix
        )
    # order: the referrers, then the image's tag, which is the top manifest's only PUT (a
    # registry accepts referrers before their subject; no extra PUT by digest)
    # (the two digest tags go out together, in either order)
    writes = [p for m, p in _writes(registry2, mark) if m == "PUT" and "/manifests/" in p]
    assert sorted(writes[:-1]) == [f"/v2/prod/app/manifests/{prefix}{s}" for s in (".att", ".sig")]
    assert writes[-1] == "/v2/prod/app/manifests/v1"
    d = result.destinations[0]
    assert d.referrers_copied == 2
    assert {r.how for r in d.referrers} == {"digest-tag"}

    # a no-op re-run writes nothing and stays cheap
    mark = registry2.mark()
    again = oci_promote.copy(f"{registry.host}/app:v1", [f"{registry2.host}/prod/app:v1"])
    requests = registry2.requests_since(mark)
    assert [e for e in requests if e.method not in ("GET", "HEAD")] == []
    assert len(requests) <= 6, [(e.method, e.path) for e in requests]
    assert again.destinations[0].referrers_present == 2


def test_cosign_oci11_signature_verifies_at_the_destination(
    registry: RunningRegistry, registry2: RunningRegistry, world: SigningWorld
) -> None:
    image = push_image(registry, "app", "v1")
    keys = world.key_pair()
    world.cosign_sign(image.ref, keys, mode="oci-1-1")
    mark = registry2.mark()

    result = oci_promote.copy(f"{registry.host}/app:v1", [f"{registry2.host}/prod/app:v1"])

    world.cosign_verify(f"{registry2.host}/prod/app@{image.digest}", keys, mode="oci-1-1")
    assert referrers_tag(image.digest) in list_tags(registry2, "prod/app")
    assert [r.how for r in result.destinations[0].referrers] == ["tag-schema"]
    writes = [p for m, p in _writes(registry2, mark) if m == "PUT" and "/manifests/" in p]
    assert writes[-1] == "/v2/prod/app/manifests/v1"
    assert writes.index(f"/v2/prod/app/manifests/{referrers_tag(image.digest)}") < len(writes) - 1


def test_re_promoting_after_signing_brings_the_new_signature(
    registry: RunningRegistry, registry2: RunningRegistry, world: SigningWorld
) -> None:
    image = push_image(registry, "app", "v1")
    oci_promote.copy(f"{registry.host}/app:v1", [f"{registry2.host}/prod/app:v1"])
    keys = world.key_pair()
    world.cosign_sign(image.ref, keys)
    result = oci_promote.copy(f"{registry.host}/app:v1", [f"{registry2.host}/prod/app:v1"])
    assert result.destinations[0].up_to_date and result.destinations[0].referrers_copied == 1
    world.cosign_verify(f"{registry2.host}/prod/app@{image.digest}", keys)


def test_require_referrer_refuses_an_unsigned_image_and_writes_nothing(
    registry: RunningRegistry, registry2: RunningRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    push_image(registry, "app", "v1")
    mark = registry2.mark()
    code = main(
        [
            "copy",
            f"{registry.host}/app:v1",
            f"{registry2.host}/prod/app:v1",
            "--require-referrer",
            COSIGN_SIGNATURE,
        ]
    )
    assert code == 1
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("oci-promote: error")]
    assert COSIGN_SIGNATURE in line and "nothing was copied" in line
    assert registry2.requests_since(mark) == []


def test_no_referrers_and_referrer_type_flags(
    registry: RunningRegistry,
    registry2: RunningRegistry,
    world: SigningWorld,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image = push_image(registry, "app", "v1")
    keys = world.key_pair()
    world.cosign_sign(image.ref, keys)
    world.cosign_attest(image.ref, keys)
    src = f"{registry.host}/app:v1"
    required = ["--require-referrer", COSIGN_SIGNATURE, "--require-referrer", COSIGN_ATTESTATION]
    assert main(["copy", src, f"{registry2.host}/bare/app:v1", "--no-referrers", *required]) == 0
    capsys.readouterr()
    assert list_tags(registry2, "bare/app") == ["v1"]
    assert (
        main(["copy", src, f"{registry2.host}/att/app:v1", "--referrer-type", COSIGN_ATTESTATION, "--json"])
        == 0
    )
    prefix = f"sha256-{_hex(image.digest)}"
    assert list_tags(registry2, "att/app") == sorted(["v1", f"{prefix}.att"])
    out = json.loads(capsys.readouterr().out)
    (entry,) = out["destinations"][0]["referrers"]
    assert (
        entry["tag"] == f"{prefix}.att" and entry["subject"] == image.digest and entry["how"] == "digest-tag"
    )
    world.cosign_verify_attestation(f"{registry2.host}/att/app@{image.digest}", keys)


SPDX = "application/spdx+json"
VEX = "application/vnd.example.vex+json"


def _tree(tree: dict[str, object]) -> list[tuple[str, object]]:
    """(digest, artifactType, subtree) of an ``oras discover`` tree, recursively."""
    referrers = tree.get("referrers") or []
    assert isinstance(referrers, list)
    return [(r["digest"], (r.get("artifactType"), _tree(r))) for r in referrers]


def test_oras_tree_and_regctl_artifacts_arrive_whole(
    registry: RunningRegistry, registry2: RunningRegistry, world: SigningWorld
) -> None:
    image = push_image(registry, "app", "v1")
    sbom = world.oras_attach(image.ref, SPDX, json.dumps({"spdxVersion": "SPDX-2.3"}))
    world.oras_attach(f"{registry.host}/app@{sbom['digest']}", "application/vnd.example.signature", "sig")
    world.regctl_artifact_put(image.ref, VEX, "{}", annotations={"org.example": "1"})
    mark = registry2.mark()

    oci_promote.copy(f"{registry.host}/app:v1", [f"{registry2.host}/prod/app:v1"])

    dest = f"{registry2.host}/prod/app@{image.digest}"
    assert _tree(world.oras_discover(dest)) == _tree(world.oras_discover(image.ref))
    assert len(_tree(world.oras_discover(dest))) == 2
    assert world.regctl_artifact_list(dest) == world.regctl_artifact_list(image.ref)
    # the access log: every manifest write (referrers, indexes) comes before the tag PUT
    puts = [p for m, p in _writes(registry2, mark) if m == "PUT" and "/manifests/" in p]
    assert puts[-1] == "/v2/prod/app/manifests/v1" and puts.count("/v2/prod/app/manifests/v1") == 1
    assert len(puts) >= 6  # image, sbom, its signature, vex, two indexes, then the tag


def test_a_destination_without_an_index_gets_the_source_index_byte_for_byte(
    registry: RunningRegistry, registry2: RunningRegistry, world: SigningWorld
) -> None:
    """Was: the index was rebuilt from the descriptors, so its digest differed from the source's."""
    image = push_image(registry, "app", "v1")
    sbom = world.oras_attach(image.ref, SPDX, json.dumps({"spdxVersion": "SPDX-2.3"}))
    on_sbom = f"{registry.host}/app@{sbom['digest']}"
    sig = world.oras_attach(on_sbom, "application/vnd.example.signature", "sig")

    oci_promote.copy(f"{registry.host}/app:v1", [f"{registry2.host}/prod/app:v1"])

    for subject, referrer in ((image.digest, sbom["digest"]), (sbom["digest"], sig["digest"])):
        tag = f"sha256-{_hex(subject)}"
        source_index = get_manifest(registry, "app", tag)
        assert source_index is not None  # else both sides missing would compare equal
        assert [m["digest"] for m in json.loads(source_index)["manifests"]] == [referrer]
        assert get_manifest(registry2, "prod/app", tag) == source_index


def test_attestations_on_the_children_of_an_index_arrive(
    registry: RunningRegistry, registry2: RunningRegistry, world: SigningWorld
) -> None:
    image = push_image(registry, "multi", "v1", archs=("amd64", "arm64"))
    keys = world.key_pair()
    for child in image.children:
        world.cosign_attest(image.child_ref(child), keys)
    world.cosign_sign(image.ref, keys)

    result = oci_promote.copy(f"{registry.host}/multi:v1", [f"{registry2.host}/prod/multi:v1"])

    assert result.destinations[0].referrers_copied == 3
    world.cosign_verify(f"{registry2.host}/prod/multi@{image.digest}", keys)
    for child in image.children:
        world.cosign_verify_attestation(f"{registry2.host}/prod/multi@{child}", keys)


def test_a_destination_index_keeps_its_own_referrer(
    registry: RunningRegistry, registry2: RunningRegistry, world: SigningWorld
) -> None:
    image = push_image(registry, "app", "v1")
    ours = world.oras_attach(image.ref, SPDX, "{}")
    oci_promote.copy(f"{registry.host}/app:v1", [f"{registry2.host}/prod/app:v1"], referrers=False)
    world.regctl_artifact_put(f"{registry2.host}/prod/app@{image.digest}", VEX, "{}")

    oci_promote.copy(f"{registry.host}/app:v1", [f"{registry2.host}/prod/app:v1"])

    listed = world.regctl_artifact_list(f"{registry2.host}/prod/app@{image.digest}")
    assert [d["artifactType"] for d in listed] == [VEX, SPDX]
    assert listed[1]["digest"] == ours["digest"]
    index = json.loads(get_manifest(registry2, "prod/app", referrers_tag(image.digest)) or b"{}")
    assert len(index["manifests"]) == 2


def test_dry_run_lists_the_referrers_and_writes_nothing(
    registry: RunningRegistry, registry2: RunningRegistry, world: SigningWorld
) -> None:
    image = push_image(registry, "app", "v1")
    world.cosign_sign(image.ref, world.key_pair())
    mark = registry2.mark()
    result = oci_promote.copy(f"{registry.host}/app:v1", [f"{registry2.host}/prod/app:v1"], dry_run=True)
    assert [(r.tag, r.action) for r in result.destinations[0].referrers] == [
        (f"sha256-{_hex(image.digest)}.sig", "copied")
    ]
    assert _writes(registry2, mark) == []


def test_signatures_survive_a_round_trip_through_an_oci_layout(
    registry: RunningRegistry, registry2: RunningRegistry, world: SigningWorld, tmp_path: Path
) -> None:
    image = push_image(registry, "app", "v1")
    keys = world.key_pair()
    world.cosign_sign(image.ref, keys)
    world.cosign_sign(image.ref, keys, mode="oci-1-1")
    layout = tmp_path / "layout"

    oci_promote.copy(f"{registry.host}/app:v1", [f"oci:{layout}:v1"])
    names = {
        m.get("annotations", {}).get("org.opencontainers.image.ref.name")
        for m in json.loads((layout / "index.json").read_text())["manifests"]
    }
    assert {"v1", f"sha256-{_hex(image.digest)}.sig", referrers_tag(image.digest)} <= names
    result = oci_promote.copy(f"oci:{layout}:v1", [f"{registry2.host}/prod/app:v1"])

    assert {r.how for r in result.destinations[0].referrers} == {"digest-tag", "tag-schema"}
    dest = f"{registry2.host}/prod/app@{image.digest}"
    world.cosign_verify(dest, keys)
    world.cosign_verify(dest, keys, mode="oci-1-1")


def test_registry_storage_lists_every_tag_and_discovery_finds_the_digest_tag(
    registry: RunningRegistry, world: SigningWorld
) -> None:
    """The product's registry storage behind the referrers protocol, on a real tags/list.

    distribution 2.8.2 ignores ``n`` and ``last`` (one page, no ``Link``): the storage must
    stop after it. ``Link`` paging itself is covered by the recorded answers of
    tests/unit/test_referrers_http.py."""
    image = push_image(registry, "app", "v1")
    world.cosign_sign(image.ref, world.key_pair())
    for n in range(3):  # more tags, so a page of 2 cannot hold them all
        world.run("crane", ["tag", "--insecure", f"{registry.host}/app:v1", f"z{n}"])

    async def pages() -> tuple[list[tuple[str, ...]], Discovery]:
        async with AsyncExitStack() as stack:
            storage = Connections(ConnectOptions(), stack).source(
                parse_location(f"{registry.host}/app:v1"), None
            )
            seen: list[tuple[str, ...]] = []
            last: str | None = None
            while True:
                page = await storage.list_tags(last=last, limit=2)
                seen.append(page.tags)
                if page.next is None:
                    break
                last = page.next
            options = DiscoveryOptions(tags_page_size=1)
            return seen, await discover_referrers(storage, [parse_digest(image.digest)], options)

    seen, found = asyncio.run(pages())
    assert len(seen) == 1, seen
    assert sorted(t for p in seen for t in p) == list_tags(registry, "app")
    assert [r.tag for r in found.referrers] == [f"sha256-{_hex(image.digest)}.sig"]


def test_a_signed_no_op_re_run_asks_four_questions_and_still_sees_a_new_or_changed_referrer(
    registry: RunningRegistry, registry2: RunningRegistry, world: SigningWorld
) -> None:
    """A signature and an attestation (cosign's digest tags) and an SBOM (oras: the tag schema
    index): a no-op re-run asks the destination for the tag, the two digest tags and the index,
    and nothing else (issue 10: "within a few requests per destination"). A new SBOM, or a
    second signature in the .sig tag, is still found and copied."""
    image = push_image(registry, "app", "v1", ("amd64", "arm64"))
    keys = world.key_pair()
    world.cosign_sign(image.ref, keys)
    world.cosign_attest(image.ref, keys)
    world.oras_attach(image.ref, SPDX, "{}")
    prefix = f"sha256-{_hex(image.digest)}"
    source, dest = f"{registry.host}/app:v1", f"{registry2.host}/prod/app:v1"
    oci_promote.copy(source, [dest])

    mark = registry2.mark()
    again = oci_promote.copy(source, [dest])
    asked = sorted((e.method, e.path) for e in registry2.requests_since(mark))
    assert asked == sorted(
        [("HEAD", "/v2/prod/app/manifests/v1")]
        + [("GET", f"/v2/prod/app/manifests/{prefix}{suffix}") for suffix in (".sig", ".att", "")]
    )
    assert again.destinations[0].up_to_date and again.destinations[0].referrers_present == 3

    sbom = world.oras_attach(image.ref, SPDX, '{"new": true}')
    world.cosign_sign(image.ref, world.key_pair("second"))  # a second signature in the .sig tag
    mark = registry2.mark()
    result = oci_promote.copy(source, [dest])
    copied = {(r.digest, r.tag) for r in result.destinations[0].referrers if r.action == "copied"}
    assert len(copied) == 2 and (sbom["digest"], None) in copied  # the new SBOM and the .sig tag
    assert {tag for _, tag in copied} == {None, f"{prefix}.sig"}
    index = json.loads(get_manifest(registry2, "prod/app", prefix) or b"{}")
    assert sbom["digest"] in {m["digest"] for m in index["manifests"]}
    signatures = f"{prefix}.sig"
    assert get_manifest(registry2, "prod/app", signatures) == get_manifest(registry, "app", signatures)
    world.cosign_verify(f"{registry2.host}/prod/app@{image.digest}", keys)
