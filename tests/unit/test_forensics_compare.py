"""explain() and headline() on hand-made trees in the in-memory storage (no registry needed)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from oci_promote.causes import Cause, Side
from oci_promote.errors import DigestMismatchError, ManifestError
from oci_promote.forensics import Comparison, Limits, SourceReader, explain, headline
from oci_promote.storage.memory import MemoryRegistry, MemoryRepository
from oci_promote.storage.source import Source
from oci_promote.types.digest import compute, parse_digest

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class Blobs:
    """Content-addressed bytes in one repository of the in-memory storage; `put` returns a
    descriptor (manifests and indexes are stored as manifests, the rest as blobs)."""

    def __init__(self) -> None:
        self.registry = MemoryRegistry()
        self.repo = self.registry.repositories.setdefault("app", MemoryRepository())

    def put(self, raw: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
        digest = compute(raw)
        if media_type in (MANIFEST, INDEX):
            self.repo.manifests[digest] = (raw, media_type)
        else:
            self.repo.blobs[digest] = raw
        return {"mediaType": media_type, "digest": str(digest), "size": len(raw), **extra}

    def put_json(self, body: Any, media_type: str, *, indent: int | None = 2, **extra: Any) -> dict[str, Any]:
        return self.put(json.dumps(body, indent=indent).encode(), media_type, **extra)

    def reader(self, top: dict[str, Any], name: str) -> SourceReader:
        """The image `top` describes, read through the forensics' reader, named `name`."""
        digest = parse_digest(top["digest"])
        return SourceReader(Source(self.registry.storage("app"), str(digest), digest, name))


def image(
    blobs: Blobs,
    arch: str,
    *,
    created: str = "2024-01-01T00:00:00Z",
    layers: tuple[bytes, ...] = (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\x03L1",),
    diff_ids: tuple[str, ...] = ("sha256:" + "1" * 64,),
    annotations: dict[str, str] | None = None,
    indent: int | None = 2,
) -> dict[str, Any]:
    config = {
        "created": created,
        "architecture": arch,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
    }
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": blobs.put_json(config, CONFIG, indent=None),
        "layers": [blobs.put(layer, LAYER) for layer in layers],
    }
    if annotations:
        body["annotations"] = annotations
    return blobs.put_json(body, MANIFEST, indent=indent, platform={"os": "linux", "architecture": arch})


def index(blobs: Blobs, children: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return blobs.put_json({"schemaVersion": 2, "mediaType": INDEX, "manifests": children, **extra}, INDEX)


def run(blobs: Blobs, a: dict[str, Any], b: dict[str, Any], limits: Limits | None = None) -> Comparison:
    return asyncio.run(explain(blobs.reader(a, "A"), blobs.reader(b, "B"), limits=limits or Limits()))


def codes(c: Comparison) -> list[tuple[str, str | None]]:
    return [(cause.code, cause.platform) for cause in c.causes]


def test_identical() -> None:
    blobs = Blobs()
    top = index(blobs, [image(blobs, "amd64")])
    c = run(blobs, top, top)
    assert c.identical and c.causes == ()
    assert headline(c) == f"A and B are the same image ({top['digest']})."


def test_platform_extracted_byte_for_byte() -> None:
    blobs = Blobs()
    amd, arm = image(blobs, "amd64"), image(blobs, "arm64")
    c = run(blobs, index(blobs, [amd, arm]), arm)
    assert codes(c) == [("platform-extracted", "linux/arm64")]
    assert "byte for byte" in c.causes[0].detail


def test_the_issues_example_headline() -> None:
    blobs = Blobs()
    amd, arm = image(blobs, "amd64"), image(blobs, "arm64")
    rewritten = blobs.put(
        json.dumps(json.loads(blobs.repo.manifests[parse_digest(amd["digest"])][0])).encode(), MANIFEST
    )
    c = run(blobs, index(blobs, [amd, arm]), rewritten)
    assert codes(c) == [("platform-extracted", "linux/amd64"), ("reserialized", "linux/amd64")]
    assert headline(c) == (
        "B is the linux/amd64 image of A's index, written again with other JSON "
        "(reserialized, platform-extracted): a pull + push through a container engine does this; "
        "copy with oci-promote to keep A's digest."
    )


def test_index_wrapped() -> None:
    blobs = Blobs()
    amd = image(blobs, "amd64")
    c = run(
        blobs,
        {k: amd[k] for k in ("mediaType", "digest", "size")},
        index(blobs, [amd, image(blobs, "s390x")]),
    )
    assert codes(c) == [("index-wrapped", "linux/amd64")]
    assert headline(c).startswith("B is an index holding A's image as its linux/amd64 child (index-wrapped)")


def test_platforms_differ_and_per_platform_causes_together() -> None:
    blobs = Blobs()
    a = index(blobs, [image(blobs, "amd64"), image(blobs, "arm64")])
    b = index(blobs, [image(blobs, "amd64", created="2025-01-01T00:00:00Z"), image(blobs, "s390x")])
    c = run(blobs, a, b)
    assert codes(c) == [("platforms-differ", None), ("config-differ", "linux/amd64")]
    assert c.causes[0].detail.endswith("added linux/s390x; removed linux/arm64")


def test_layers_recompressed_reads_only_the_first_bytes() -> None:
    blobs = Blobs()
    zstd_layer = b"\x28\xb5\x2f\xfd" + b"z" * 4096
    a = image(blobs, "amd64")
    b = image(blobs, "amd64", layers=(zstd_layer,))
    c = run(blobs, a, b)
    assert [code for code, _ in codes(c)] == ["layers-recompressed"]
    assert "(gzip, fastest (level 1), Unix) ->" in c.causes[0].detail and "(zstd)" in c.causes[0].detail


def test_layers_differ_counts_added_and_changed() -> None:
    blobs = Blobs()
    a = image(blobs, "amd64", layers=(b"x1", b"x2"), diff_ids=("sha256:" + "1" * 64, "sha256:" + "2" * 64))
    b = image(
        blobs,
        "amd64",
        layers=(b"x1", b"y2", b"y3"),
        diff_ids=("sha256:" + "1" * 64, "sha256:" + "3" * 64, "sha256:" + "4" * 64),
    )
    c = run(blobs, a, b)
    assert [code for code, _ in codes(c)] == ["layers-differ"]
    assert c.causes[0].detail.endswith("1 same, 1 changed, 1 added")


def test_annotations_of_index_and_child_descriptors() -> None:
    blobs = Blobs()
    amd = image(blobs, "amd64")
    a = index(blobs, [amd], annotations={"k": "1", "gone": "x"})
    b = index(blobs, [amd | {"annotations": {"d": "1"}}], annotations={"k": "2", "new": "y"})
    c = run(blobs, a, b)
    assert [code for code, _ in codes(c)] == ["annotations-differ"]
    assert c.causes[0].detail == ("annotations: added new; removed gone; changed k; manifests[0]: added d")


def test_other_names_the_paths() -> None:
    blobs = Blobs()
    amd = image(blobs, "amd64")
    c = run(blobs, index(blobs, [amd]), index(blobs, [amd | {"artifactType": "x"}], artifactType="y"))
    assert codes(c) == [("other", None)]
    assert c.causes[0].detail == "index fields differ: artifactType, manifests[0].artifactType"


def test_depth_limit() -> None:
    blobs = Blobs()
    a, b = image(blobs, "amd64"), image(blobs, "amd64", created="2025-01-01T00:00:00Z")
    for _ in range(3):
        a, b = index(blobs, [a]), index(blobs, [b])
    assert run(blobs, a, b, Limits(depth=3)).codes == {"config-differ"}
    with pytest.raises(ManifestError, match="nest deeper than 2 levels"):
        run(blobs, a, b, Limits(depth=2))


def test_manifest_count_limit() -> None:
    blobs = Blobs()
    a = index(blobs, [image(blobs, f"a{i}") for i in range(5)])
    b = index(blobs, [image(blobs, f"a{i}", created="2025-01-01T00:00:00Z") for i in range(5)])
    with pytest.raises(ManifestError, match="more than 4 manifests"):
        run(blobs, a, b, Limits(manifests=4))


def test_config_cap_and_lying_descriptors() -> None:
    blobs = Blobs()
    a, b = image(blobs, "amd64"), image(blobs, "amd64", created="2025-01-01T00:00:00Z")
    with pytest.raises(ManifestError, match="over the 10-byte limit"):
        run(blobs, a, b, Limits(config_bytes=10))
    child = dict(b)
    child["size"] += 1
    with pytest.raises(DigestMismatchError):
        run(blobs, index(blobs, [a]), index(blobs, [child]))


def test_headline_advice_follows_the_strongest_cause() -> None:
    side = Side("a", "sha256:" + "a" * 64, MANIFEST)
    docker = Side("b", "sha256:" + "b" * 64, "application/vnd.docker.distribution.manifest.v2+json")

    def line(*cs: str) -> str:
        return headline(Comparison(side, docker, tuple(Cause(code, "x") for code in cs)))

    assert line("media-type-converted", "reserialized") == (
        "B is A's image, written again with other JSON and converted to Docker media types "
        "(reserialized, media-type-converted): a pull + push through a container engine does this; "
        "copy with oci-promote to keep A's digest."
    )
    assert line("config-differ").startswith(
        "B is another image than A, with another config (config-differ): B was rebuilt"
    )
    assert "compresses layers again" in line("layers-recompressed")
    assert "a tool edited the manifest" in line("annotations-differ")
    assert line("other").startswith("B differs from A, with other manifest fields (other)")
