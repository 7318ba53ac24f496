"""Referrers through the OCI 1.1 referrers API: olareg v0.1.2 (testkit/olareg.py).

Signatures are made by the real tools (cosign in all three modes, oras, regctl) and checked
at the DESTINATION by the same tools, in the three directions: olareg -> olareg (the
destination indexes referrers itself on ``OCI-Subject``: no fallback tag is written),
olareg -> distribution 2.8.2 (API -> tag schema) and distribution -> olareg (tag schema ->
API). Every olareg request passes the recording proxy, whose log gives the write order and
the request counts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

import oci_promote
from oci_promote.cli.main import main
from oci_promote.connect import Connections
from oci_promote.options import ConnectOptions, parse_location
from oci_promote.referrers import ReferrerDescriptor, discover_referrers, referrers_tag
from oci_promote.referrers.artifact_types import COSIGN_OCI11_SIGNATURE, COSIGN_SIGNATURE, SIGSTORE_BUNDLE
from oci_promote.referrers.discover import DiscoveryOptions, api_listing
from oci_promote.types.digest import parse_digest
from testkit.olareg import OlaregRegistry
from testkit.proxy import Forward, RequestView, Respond
from testkit.quirks import oci_error
from testkit.registry import AccessEntry, LogMark, RunningRegistry
from testkit.signing import KeyPair, PushedImage, SigningWorld, get_manifest, list_tags, push_image

SPDX = "application/spdx+json"
SIGNATURE = "application/vnd.example.signature"
VEX = "application/vnd.example.vex+json"
Registry = RunningRegistry | OlaregRegistry


pytestmark = pytest.mark.usefixtures("no_docker_login")


@pytest.fixture
def olareg2(olareg_factory: Callable[..., OlaregRegistry]) -> OlaregRegistry:
    return olareg_factory()


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def _tree(tree: dict[str, Any]) -> list[tuple[str, object]]:
    """(digest, (artifactType, subtree)) of an ``oras discover`` tree, sorted, all depths."""
    return sorted((r["digest"], (r.get("artifactType"), _tree(r))) for r in tree.get("referrers") or [])


def _artifacts(world: SigningWorld, ref: str) -> list[tuple[str, str | None]]:
    return sorted((d["digest"], d.get("artifactType")) for d in world.regctl_artifact_list(ref))


def _sign_everything(world: SigningWorld, image: PushedImage, keys: KeyPair) -> dict[str, str]:
    """Every kind of referrer the tools make; the digests of the SBOM and its signature."""
    world.cosign_sign(image.ref, keys)  # .sig tag
    world.cosign_sign(image.ref, keys, mode="oci-1-1")
    world.cosign_sign(image.ref, keys, mode="bundle")
    world.cosign_attest(image.ref, keys)  # .att tag
    world.cosign_attest(image.ref, keys, bundle=True)
    sbom = world.oras_attach(image.ref, SPDX, json.dumps({"spdxVersion": "SPDX-2.3"}))
    on_sbom = world.oras_attach(f"{image.registry.host}/{image.repo}@{sbom['digest']}", SIGNATURE, "sig")
    world.regctl_artifact_put(image.ref, VEX, "{}", annotations={"org.example": "1"})
    return {"sbom": sbom["digest"], "sbom_sig": on_sbom["digest"]}


def _verify_everything(world: SigningWorld, ref: str, keys: KeyPair) -> None:
    for mode in ("legacy", "oci-1-1", "bundle"):
        world.cosign_verify(ref, keys, mode=mode)  # type: ignore[arg-type]
    world.cosign_verify_attestation(ref, keys)
    world.cosign_verify_attestation(ref, keys, bundle=True)


def _manifest_puts(registry: Registry, since: LogMark) -> list[str]:
    return [e.path for e in registry.requests_since(since) if e.method == "PUT" and "/manifests/" in e.path]


def _writes(entries: list[AccessEntry]) -> list[tuple[str, str]]:
    return [(e.method, e.path) for e in entries if e.method not in ("GET", "HEAD")]


def test_olareg_to_olareg_the_destination_indexes_them_itself(
    olareg_registry: OlaregRegistry, olareg2: OlaregRegistry, world: SigningWorld
) -> None:
    src, dst = olareg_registry, olareg2
    image = push_image(src, "app", "v1")
    keys = world.key_pair()
    made = _sign_everything(world, image, keys)
    mark = dst.mark()

    result = oci_promote.copy(f"{src.host}/app:v1", [f"{dst.host}/prod/app:v1"])

    dest = f"{dst.host}/prod/app@{image.digest}"
    _verify_everything(world, dest, keys)
    assert _tree(world.oras_discover(dest)) == _tree(world.oras_discover(image.ref))
    assert made["sbom_sig"] in json.dumps(world.oras_discover(dest))  # a signature on the SBOM
    assert _artifacts(world, dest) == _artifacts(world, image.ref)
    # OCI-Subject answered: no fallback tag, only cosign's digest tags and the image's tag
    prefix = f"sha256-{_hex(image.digest)}"
    assert list_tags(dst, "prod/app") == sorted(["v1", f"{prefix}.sig", f"{prefix}.att"])
    hows = {r.digest: r.how for r in result.destinations[0].referrers}
    assert hows[made["sbom"]] == hows[made["sbom_sig"]] == "api"
    assert result.destinations[0].referrers_copied == 8
    # the access log: every referrer write first, the tag PUT last; the top only once
    puts = _manifest_puts(dst, mark)
    assert puts[-1] == "/v2/prod/app/manifests/v1" and f"/v2/prod/app/manifests/{image.digest}" not in puts
    assert len(puts) == 9 and f"/v2/prod/app/manifests/{referrers_tag(image.digest)}" not in puts

    # a no-op re-run writes nothing and stays cheap: the image's tag, one referrers listing
    # per subject with referrers (image, SBOM), one GET per digest tag
    mark = dst.mark()
    again = oci_promote.copy(f"{src.host}/app:v1", [f"{dst.host}/prod/app:v1"])
    requests = dst.requests_since(mark)
    assert _writes(requests) == []
    assert len(requests) <= 5, [(e.method, e.uri) for e in requests]
    assert again.destinations[0].referrers_present == 8 and again.destinations[0].referrers_copied == 0


def test_olareg_to_distribution_api_becomes_the_tag_schema(
    olareg_registry: OlaregRegistry, registry: RunningRegistry, world: SigningWorld
) -> None:
    image = push_image(olareg_registry, "app", "v1")
    keys = world.key_pair()
    made = _sign_everything(world, image, keys)
    mark = registry.mark()

    result = oci_promote.copy(f"{olareg_registry.host}/app:v1", [f"{registry.host}/prod/app:v1"])

    dest = f"{registry.host}/prod/app@{image.digest}"
    _verify_everything(world, dest, keys)
    assert _tree(world.oras_discover(dest)) == _tree(world.oras_discover(image.ref))
    assert _artifacts(world, dest) == _artifacts(world, image.ref)
    index = json.loads(get_manifest(registry, "prod/app", referrers_tag(image.digest)) or b"{}")
    assert len(index["manifests"]) == 5  # cosign oci-1-1, 2 bundles, SBOM, VEX
    on_sbom = json.loads(get_manifest(registry, "prod/app", referrers_tag(made["sbom"])) or b"{}")
    assert [m["digest"] for m in on_sbom["manifests"]] == [made["sbom_sig"]]
    assert {r.how for r in result.destinations[0].referrers} == {"tag-schema", "digest-tag"}
    puts = [(m, p) for m, p in _writes(registry.requests_since(mark)) if "/manifests/" in p]
    assert puts[-1] == ("PUT", "/v2/prod/app/manifests/v1")
    assert [p for _, p in puts].count("/v2/prod/app/manifests/v1") == 1
    assert f"/v2/prod/app/manifests/{referrers_tag(image.digest)}" in [p for _, p in puts]


def test_distribution_to_olareg_tag_schema_becomes_the_api(
    registry: RunningRegistry, olareg_registry: OlaregRegistry, world: SigningWorld
) -> None:
    image = push_image(registry, "app", "v1")
    keys = world.key_pair()
    made = _sign_everything(world, image, keys)
    mark = olareg_registry.mark()

    result = oci_promote.copy(f"{registry.host}/app:v1", [f"{olareg_registry.host}/prod/app:v1"])

    dest = f"{olareg_registry.host}/prod/app@{image.digest}"
    _verify_everything(world, dest, keys)
    # the same tree; olareg lists the artifactType computed from each manifest, where
    # cosign 2.6.5 wrote application/vnd.oci.empty.v1+json into the source's fallback index
    there, here = _tree(world.oras_discover(dest)), _tree(world.oras_discover(image.ref))
    assert [d for d, _ in there] == [d for d, _ in here]
    types = {d: t for d, (t, _) in there}
    assert sorted(types.values()).count(SIGSTORE_BUNDLE) == 2
    assert {d: t for d, (t, _) in here if t != "application/vnd.oci.empty.v1+json"}.items() <= types.items()
    assert sorted(d for d, _ in _artifacts(world, dest)) == sorted(d for d, _ in _artifacts(world, image.ref))
    prefix = f"sha256-{_hex(image.digest)}"
    assert list_tags(olareg_registry, "prod/app") == sorted(["v1", f"{prefix}.sig", f"{prefix}.att"])
    with olareg_registry.client() as client:
        listed = client.get(f"/v2/prod/app/referrers/{made['sbom']}").json()["manifests"]
    assert [m["digest"] for m in listed] == [made["sbom_sig"]]
    assert result.destinations[0].referrers_copied == 8
    assert _manifest_puts(olareg_registry, mark)[-1] == "/v2/prod/app/manifests/v1"

    # a no-op re-run writes nothing: the image's tag index the source keeps is not at the
    # destination (it lists them through its API), so one GET for it, then the tag, the
    # two digest tags and a listing per subject (image, SBOM) as before
    mark = olareg_registry.mark()
    again = oci_promote.copy(f"{registry.host}/app:v1", [f"{olareg_registry.host}/prod/app:v1"])
    requests = olareg_registry.requests_since(mark)
    assert _writes(requests) == [] and len(requests) <= 6, [(e.method, e.uri) for e in requests]
    assert (again.destinations[0].referrers_present, again.destinations[0].referrers_copied) == (8, 0)


def test_an_index_whose_children_carry_attestations_and_signatures_on_them(
    olareg_registry: OlaregRegistry, olareg2: OlaregRegistry, registry: RunningRegistry, world: SigningWorld
) -> None:
    """Referrers of a child's referrer are walked too (an index child is a subject like the top)."""
    image = push_image(olareg_registry, "multi", "v1", archs=("amd64", "arm64"))
    keys = world.key_pair()
    notes = []
    for child in image.children:
        world.cosign_attest(image.child_ref(child), keys, bundle=True)
        sbom = world.oras_attach(image.child_ref(child), SPDX, "{}")
        note = world.oras_attach(f"{olareg_registry.host}/multi@{sbom['digest']}", SIGNATURE, child)
        notes.append(note["digest"])
    world.cosign_sign(image.ref, keys, mode="bundle")

    for dest_host in (olareg2.host, registry.host):
        result = oci_promote.copy(f"{olareg_registry.host}/multi:v1", [f"{dest_host}/prod/multi:v1"])
        assert result.destinations[0].referrers_copied == 7
        copied = {r.digest for r in result.destinations[0].referrers}
        assert set(notes) <= copied
        world.cosign_verify(f"{dest_host}/prod/multi@{image.digest}", keys, mode="bundle")
        for child in image.children:
            world.cosign_verify_attestation(f"{dest_host}/prod/multi@{child}", keys, bundle=True)
            assert _tree(world.oras_discover(f"{dest_host}/prod/multi@{child}")) == _tree(
                world.oras_discover(image.child_ref(child))
            )


def test_referrer_type_and_require_referrer_through_the_api(
    olareg_registry: OlaregRegistry,
    olareg2: OlaregRegistry,
    world: SigningWorld,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src, dst = olareg_registry, olareg2
    unsigned = push_image(src, "bare", "v1")
    mark = dst.mark()
    required = ["--require-referrer", COSIGN_SIGNATURE]
    assert main(["copy", f"{src.host}/bare:v1", f"{dst.host}/prod/bare:v1", *required]) == 1
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("oci-promote: error")]
    assert COSIGN_SIGNATURE in line and "nothing was copied" in line
    assert dst.requests_since(mark) == []
    assert unsigned.digest

    image = push_image(src, "app", "v1")
    keys = world.key_pair()
    world.cosign_sign(image.ref, keys, mode="oci-1-1")  # counts as simplesigning: its layer
    sbom = world.oras_attach(image.ref, SPDX, "{}")
    world.oras_attach(f"{src.host}/app@{sbom['digest']}", SIGNATURE, "sig")
    world.regctl_artifact_put(image.ref, VEX, "{}")
    args = ["copy", f"{src.host}/app:v1", f"{dst.host}/prod/app:v1", *required, "--json"]
    assert main([*args, "--referrer-type", SPDX]) == 0
    out = json.loads(capsys.readouterr().out)
    carried = [(r["artifact_type"], r["how"]) for r in out["destinations"][0]["referrers"]]
    assert carried == [(SPDX, "api"), (SIGNATURE, "api")]  # the SBOM and what hangs below it
    dest = f"{dst.host}/prod/app@{image.digest}"
    assert [t for _, (t, _) in _tree(world.oras_discover(dest))] == [SPDX]
    # the same type rule on the API path as on the tag schema: a layer type counts
    assert main([*args, "--referrer-type", COSIGN_SIGNATURE]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["artifact_type"] for r in out["destinations"][0]["referrers"]] == [COSIGN_OCI11_SIGNATURE]
    world.cosign_verify(dest, keys, mode="oci-1-1")


def test_re_promoting_after_a_new_signature_brings_it(
    olareg_registry: OlaregRegistry, olareg2: OlaregRegistry, world: SigningWorld
) -> None:
    src, dst = olareg_registry, olareg2
    image = push_image(src, "app", "v1")
    keys = world.key_pair()
    world.cosign_sign(image.ref, keys, mode="bundle")
    oci_promote.copy(f"{src.host}/app:v1", [f"{dst.host}/prod/app:v1"])
    world.cosign_attest(image.ref, keys, bundle=True)
    mark = dst.mark()

    result = oci_promote.copy(f"{src.host}/app:v1", [f"{dst.host}/prod/app:v1"])

    d = result.destinations[0]
    assert d.up_to_date and (d.referrers_copied, d.referrers_present) == (1, 1)
    world.cosign_verify_attestation(f"{dst.host}/prod/app@{image.digest}", keys, bundle=True)
    puts = _manifest_puts(dst, mark)
    assert len(puts) == 1 and puts[0].startswith("/v2/prod/app/manifests/sha256:")


def _listing(
    registry: OlaregRegistry, subject: str, wanted: frozenset[str]
) -> tuple[ReferrerDescriptor, ...]:
    async def run() -> tuple[ReferrerDescriptor, ...]:
        async with AsyncExitStack() as stack:
            storage = Connections(ConnectOptions(), stack).source(
                parse_location(f"{registry.host}/app:v1"), None
            )
            answer = await api_listing(storage, parse_digest(subject), wanted)
            assert isinstance(answer, tuple), answer
            return answer

    return asyncio.run(run())


def test_artifact_type_filter_on_the_api_served_or_local(
    olareg_registry: OlaregRegistry, world: SigningWorld
) -> None:
    image = push_image(olareg_registry, "app", "v1")
    world.oras_attach(image.ref, SPDX, "{}")
    world.regctl_artifact_put(image.ref, VEX, "{}")
    world.cosign_sign(image.ref, world.key_pair(), mode="bundle")

    mark = olareg_registry.mark()
    served = _listing(olareg_registry, image.digest, frozenset({SPDX}))
    assert [d.artifact_type for d in served] == [SPDX]
    (asked,) = [e for e in olareg_registry.requests_since(mark) if "/referrers/" in e.path]
    assert asked.query == {"artifactType": SPDX}  # olareg filters and says so

    def ignores_filters(request: RequestView) -> Forward | Respond:
        """A registry with the API that ignores ``artifactType`` (no OCI-Filters-Applied)."""
        if "/referrers/" not in request.path or not request.query:
            return Forward()
        with httpx.Client(base_url=olareg_registry.direct_url, trust_env=False) as client:
            whole = client.get(request.path)
        return Respond(200, {"Content-Type": whole.headers["content-type"]}, whole.content)

    olareg_registry.set_handler(ignores_filters)
    local = _listing(olareg_registry, image.digest, frozenset({SPDX}))
    assert [d.artifact_type for d in local] == [SPDX]
    both = _listing(olareg_registry, image.digest, frozenset({SPDX, SIGSTORE_BUNDLE}))
    assert sorted(d.artifact_type or "" for d in both) == sorted([SPDX, SIGSTORE_BUNDLE])


def test_discovery_options_filter_by_the_same_rule_on_the_api(
    olareg_registry: OlaregRegistry, registry: RunningRegistry, world: SigningWorld
) -> None:
    """``DiscoveryOptions.artifact_types`` keeps what ``--referrer-type`` keeps, API or not:
    a cosign OCI 1.1 signature counts as simplesigning (its layer) on both registries."""
    found = {}
    for reg in (olareg_registry, registry):
        image = push_image(reg, "app", "v1")
        world.cosign_sign(image.ref, world.key_pair(f"k{len(found)}"), mode="oci-1-1")
        world.oras_attach(image.ref, SPDX, "{}")

        async def run(reg: Registry = reg, digest: str = image.digest) -> list[str | None]:
            async with AsyncExitStack() as stack:
                storage = Connections(ConnectOptions(), stack).source(
                    parse_location(f"{reg.host}/app:v1"), None
                )
                options = DiscoveryOptions(artifact_types=frozenset({COSIGN_SIGNATURE}))
                got = await discover_referrers(storage, [parse_digest(digest)], options)
                return [r.descriptor.artifact_type for r in got.referrers]

        found[reg.host] = asyncio.run(run())
    assert list(found.values()) == [[COSIGN_OCI11_SIGNATURE], [COSIGN_OCI11_SIGNATURE]]


def test_a_destination_keeps_its_own_referrer(
    olareg_registry: OlaregRegistry, olareg2: OlaregRegistry, world: SigningWorld
) -> None:
    src, dst = olareg_registry, olareg2
    image = push_image(src, "app", "v1")
    ours = world.oras_attach(image.ref, SPDX, "{}")
    oci_promote.copy(f"{src.host}/app:v1", [f"{dst.host}/prod/app:v1"], referrers=False)
    world.regctl_artifact_put(f"{dst.host}/prod/app@{image.digest}", VEX, "{}")

    oci_promote.copy(f"{src.host}/app:v1", [f"{dst.host}/prod/app:v1"])

    listed = _artifacts(world, f"{dst.host}/prod/app@{image.digest}")
    assert sorted(t or "" for _, t in listed) == sorted([SPDX, VEX])
    assert ours["digest"] in [d for d, _ in listed]


def _no_oci_subject(request: RequestView) -> Forward:
    """A registry with the referrers API whose manifest PUT does not answer ``OCI-Subject``."""

    def drop(status: int, headers: list[tuple[str, str]]) -> tuple[int, list[tuple[str, str]]]:
        return status, [(k, v) for k, v in headers if k.lower() != "oci-subject"]

    return Forward(rewrite_response=drop if request.method == "PUT" else None)


@pytest.mark.parametrize("why", ["api off", "no OCI-Subject"])
def test_without_oci_subject_the_fallback_index_is_kept(
    olareg_registry: OlaregRegistry,
    olareg_factory: Callable[..., OlaregRegistry],
    world: SigningWorld,
    why: str,
) -> None:
    """olareg with ``--api-referrer=false`` (404 for the API), or with the API but no
    ``OCI-Subject`` on the PUT: the spec makes the client keep the ``<alg>-<hex>`` index."""
    dst = olareg_factory(referrers_api=why != "api off")
    if why == "no OCI-Subject":
        dst.set_handler(_no_oci_subject)
    image = push_image(olareg_registry, "app", "v1")
    keys = world.key_pair()
    world.cosign_sign(image.ref, keys, mode="bundle")
    sbom = world.oras_attach(image.ref, SPDX, "{}")
    mark = dst.mark()

    result = oci_promote.copy(f"{olareg_registry.host}/app:v1", [f"{dst.host}/prod/app:v1"])

    assert {r.how for r in result.destinations[0].referrers} == {"tag-schema"}
    index = json.loads(get_manifest(dst, "prod/app", referrers_tag(image.digest)) or b"{}")
    assert sbom["digest"] in [m["digest"] for m in index["manifests"]] and len(index["manifests"]) == 2
    puts = _manifest_puts(dst, mark)
    assert puts[-1] == "/v2/prod/app/manifests/v1"
    assert puts.index(f"/v2/prod/app/manifests/{referrers_tag(image.digest)}") == len(puts) - 2
    world.cosign_verify(f"{dst.host}/prod/app@{image.digest}", keys, mode="bundle")


def test_both_kinds_of_destination_in_one_copy_and_cheap_no_op_re_runs(
    olareg_registry: OlaregRegistry, olareg2: OlaregRegistry, registry: RunningRegistry, world: SigningWorld
) -> None:
    image = push_image(olareg_registry, "app", "v1")
    keys = world.key_pair()
    world.cosign_sign(image.ref, keys, mode="bundle")
    sbom = world.oras_attach(image.ref, SPDX, "{}")
    world.oras_attach(f"{olareg_registry.host}/app@{sbom['digest']}", SIGNATURE, "sig")
    dests = [f"{olareg2.host}/prod/app:v1", f"{registry.host}/prod/app:v1"]
    marks = [olareg2.mark(), registry.mark()]

    result = oci_promote.copy(f"{olareg_registry.host}/app:v1", dests)

    assert [d.referrers_copied for d in result.destinations] == [3, 3]
    assert [{r.how for r in d.referrers} for d in result.destinations] == [{"api"}, {"tag-schema"}]
    for reg, mark in zip((olareg2, registry), marks, strict=True):
        puts = _manifest_puts(reg, mark)
        assert puts[-1] == "/v2/prod/app/manifests/v1" and puts.count("/v2/prod/app/manifests/v1") == 1
        dest = f"{reg.host}/prod/app@{image.digest}"
        world.cosign_verify(dest, keys, mode="bundle")
        assert _tree(world.oras_discover(dest)) == _tree(world.oras_discover(image.ref))

    marks = [olareg2.mark(), registry.mark()]
    oci_promote.copy(f"{olareg_registry.host}/app:v1", dests)
    for reg, mark in zip((olareg2, registry), marks, strict=True):
        requests = reg.requests_since(mark)
        assert _writes(requests) == []
        # the tag; API: a listing per subject (image, SBOM); tag schema: one API probe
        # (404), an index per subject
        assert len(requests) <= 4, [(e.method, e.uri) for e in requests]


def test_api_referrers_survive_a_round_trip_through_an_oci_layout(
    olareg_registry: OlaregRegistry, olareg2: OlaregRegistry, world: SigningWorld, tmp_path: Path
) -> None:
    image = push_image(olareg_registry, "app", "v1")
    keys = world.key_pair()
    world.cosign_sign(image.ref, keys, mode="bundle")
    world.cosign_attest(image.ref, keys, bundle=True)
    sbom = world.oras_attach(image.ref, SPDX, "{}")
    world.oras_attach(f"{olareg_registry.host}/app@{sbom['digest']}", SIGNATURE, "sig")
    layout = tmp_path / "layout"

    oci_promote.copy(f"{olareg_registry.host}/app:v1", [f"oci:{layout}:v1"])
    result = oci_promote.copy(f"oci:{layout}:v1", [f"{olareg2.host}/prod/app:v1"])

    assert result.destinations[0].referrers_copied == 4
    dest = f"{olareg2.host}/prod/app@{image.digest}"
    world.cosign_verify(dest, keys, mode="bundle")
    world.cosign_verify_attestation(dest, keys, bundle=True)
    assert _tree(world.oras_discover(dest)) == _tree(world.oras_discover(image.ref))
    assert list_tags(olareg2, "prod/app") == ["v1"]


def test_tag_pages_on_a_registry_that_pages(olareg_registry: OlaregRegistry, world: SigningWorld) -> None:
    """olareg honours ``n`` and sends ``Link`` (distribution 2.8.2 does not): discovery walks
    every page to find a digest tag, with pages of one tag."""
    image = push_image(olareg_registry, "app", "v1")
    world.cosign_sign(image.ref, world.key_pair())
    for n in range(3):
        world.run("crane", ["tag", "--insecure", f"{olareg_registry.host}/app:v1", f"z{n}"])
    mark = olareg_registry.mark()

    async def run() -> list[str | None]:
        async with AsyncExitStack() as stack:
            storage = Connections(ConnectOptions(), stack).source(
                parse_location(f"{olareg_registry.host}/app:v1"), None
            )
            options = DiscoveryOptions(tags_page_size=1)
            got = await discover_referrers(storage, [parse_digest(image.digest)], options)
            return [r.tag for r in got.referrers]

    assert asyncio.run(run()) == [f"sha256-{_hex(image.digest)}.sig"]
    pages = [e for e in olareg_registry.requests_since(mark) if e.path.endswith("/tags/list")]
    assert len(pages) == len(list_tags(olareg_registry, "app"))  # one tag a page
    assert all(e.query.get("n") == "1" for e in pages)


def test_a_refused_referrer_at_one_destination_moves_no_tag_anywhere(
    olareg_registry: OlaregRegistry,
    olareg2: OlaregRegistry,
    registry: RunningRegistry,
    world: SigningWorld,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image = push_image(olareg_registry, "app", "v1")
    sbom = world.oras_attach(image.ref, SPDX, "{}")

    def refuse_the_sbom(request: RequestView) -> Forward | Respond:
        if request.method == "PUT" and request.path.endswith(f"/manifests/{sbom['digest']}"):
            return oci_error(400, "MANIFEST_INVALID", "refused by the test")
        return Forward()

    olareg2.set_handler(refuse_the_sbom)
    dests = [f"{registry.host}/prod/app:v1", f"{olareg2.host}/prod/app:v1"]
    dry = oci_promote.copy(f"{olareg_registry.host}/app:v1", dests, dry_run=True)
    assert [[r.how for r in d.referrers] for d in dry.destinations] == [["tag-schema"], ["api"]]

    assert main(["copy", f"{olareg_registry.host}/app:v1", *dests]) == 1

    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("oci-promote: error")]
    assert "MANIFEST_INVALID" in line and "no tag was moved" in line
    assert (
        get_manifest(registry, "prod/app", "v1") is None and get_manifest(olareg2, "prod/app", "v1") is None
    )


def test_referrers_of_one_subject_are_pushed_one_after_another_to_an_api_registry(
    olareg_registry: OlaregRegistry, olareg2: OlaregRegistry, world: SigningWorld
) -> None:
    """olareg v0.1.2 updates a subject's referrers list by read-modify-write without a lock:
    two overlapping PUTs of referrers of one subject lost one of them (a flaky third of runs
    when they went out together). Five images with five referrers each, every one listed."""
    for n in range(5):
        image = push_image(olareg_registry, f"many{n}", "v1")
        sent = {
            world.oras_attach(image.ref, f"application/vnd.example.{k}", str(k))["digest"] for k in range(5)
        }
        oci_promote.copy(f"{olareg_registry.host}/many{n}:v1", [f"{olareg2.host}/prod/many{n}:v1"])
        answer = httpx.get(f"{olareg2.url}/v2/prod/many{n}/referrers/{image.digest}")
        assert {m["digest"] for m in answer.json()["manifests"]} == sent


def test_a_referrers_api_that_says_later_is_asked_again_not_taken_for_absent(
    olareg_registry: OlaregRegistry, registry: RunningRegistry, world: SigningWorld
) -> None:
    """One 503 from the source's referrers API: retried like any request. It used to mean "no
    API", so the copy read the source's tag schema, found nothing there, and arrived unsigned."""
    image = push_image(olareg_registry, "app", "v1")
    sbom = world.oras_attach(image.ref, SPDX, "{}")
    answered: list[str] = []

    def busy_once(request: RequestView) -> Forward | Respond:
        if "/referrers/" in request.path:
            answered.append(request.path)
            if len(answered) == 1:
                return oci_error(503, "UNAVAILABLE", "busy for a moment")
        return Forward()

    olareg_registry.set_handler(busy_once)
    result = oci_promote.copy(
        f"{olareg_registry.host}/app:v1", [f"{registry.host}/prod/app:v1"], retry_delay=0.001
    )
    assert [r.digest for r in result.destinations[0].referrers] == [sbom["digest"]]
    assert len(answered) >= 2
