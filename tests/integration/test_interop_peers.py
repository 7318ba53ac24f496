"""Interop with the Go peers (crane, regctl, oras), both directions, digests kept.

* A peer writes: it pushes an image from an OCI layout, copies it to another registry with
  its bench command line, and we promote the peer's copy.
* We write: we promote from a layout, and each peer reads every manifest byte for byte and
  pulls every blob into an OCI layout of its own.
* We read a peer's layout: the layout a peer pulled is our ``oci:`` source.

Checks never go through our code: the expected bytes come from the source layout, and the
registries are read with plain HTTP (:func:`testkit.interop.registry_problems`).
The peers are built by scripts/setup.sh; a missing one fails the test (CI must not pass by
skipping) unless ``OCI_PROMOTE_ALLOW_SKIP=1``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from testkit.images import build_layout
from testkit.interop import (
    InteropImage,
    digest_of,
    image_tree,
    layout_problems,
    promote,
    registry_problems,
    tagged_digest,
)
from testkit.peers import PEER_NAMES, PEERS, Peer, PeerMissingError, peer_binary, single_entry_layout
from testkit.registry import RunningRegistry
from tests.conftest import ALLOW_SKIP_ENV, FIXTURES_DIR, RegistryFactory

pytestmark = pytest.mark.peers

BUILT = "built-2x2"
#: key -> (fixture layout, tag): what each exercises is in tests/fixtures/SOURCES.md.
FIXTURE_IMAGES = {
    "regclient-v3": ("regclient-testrepo", "v3"),  # 4 platforms sharing layers
    "regclient-v1": ("regclient-testrepo", "v1"),  # buildkit attestation manifests, a subject
    "containers-latest": ("containers-image-multiple-images", "latest"),  # 4-space indented JSON
    "oras-multi": ("oras-e2e-artifacts", "multi"),  # index keys out of OCI order, plain tar layers
}
#: Peers push with the descriptor's media type; ggcr-test-index declares its children wrongly,
#: so the registry refuses their pushes. Reading it after we wrote it is tested below.
GGCR_INDEX = ("ggcr-test-index", "3")  # no mediaType in the pretty-printed index body
WRITE_KEYS = [BUILT, *FIXTURE_IMAGES]
READ_KEYS = [*WRITE_KEYS, "ggcr-3"]
ORAS_CHECKS_CONTENT_TYPE = pytest.mark.xfail(
    strict=True,
    reason="oras refuses a child whose Content-Type differs from the descriptor's media type "
    "(ggcr-test-index declares an OCI manifest, the body is Docker schema2)",
)


def require_peer(name: str) -> Peer:
    """The peer, or a failed test saying how to build it (a skip only if allowed)."""
    try:
        peer_binary(name)
    except PeerMissingError as e:
        if os.environ.get(ALLOW_SKIP_ENV) == "1":
            pytest.skip(f"{e}; skipped: {ALLOW_SKIP_ENV}=1")
        pytest.fail(f"{e}. Set {ALLOW_SKIP_ENV}=1 to skip instead.", pytrace=False)
    return PEERS[name]


@pytest.fixture(params=PEER_NAMES)
def peer(request: pytest.FixtureRequest) -> Peer:
    return require_peer(request.param)


@pytest.fixture(scope="session")
def built_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh multi-platform image: 2 platforms x 2 gzip layers of 256 KiB, tagged v1."""
    layout = tmp_path_factory.mktemp("interop") / "built"
    build_layout(layout, "v1", ["amd64", "arm64"], 2, 256 * 1024)
    return layout


def _image(key: str, built_layout: Path) -> InteropImage:
    if key == BUILT:
        layout, tag = built_layout, "v1"
    else:
        name, tag = GGCR_INDEX if key == "ggcr-3" else FIXTURE_IMAGES[key]
        layout = FIXTURES_DIR / name
    return InteropImage(key, layout, tag, tagged_digest(layout, tag))


@pytest.mark.parametrize("key", WRITE_KEYS)
def test_we_promote_what_a_peer_pushed_and_copied(
    key: str,
    peer: Peer,
    built_layout: Path,
    registry_factory: RegistryFactory,
    tmp_path: Path,
) -> None:
    image = _image(key, built_layout)
    tree = image_tree(image.layout, image.digest)
    pushed_to, copied_to, ours = (registry_factory() for _ in range(3))

    view = single_entry_layout(image.layout, image.digest, "t", tmp_path / "one-image")
    peer.push_layout(view, "t", pushed_to.ref(f"by-{peer.name}/{key}", "t"))
    peer.copy(pushed_to.ref(f"by-{peer.name}/{key}", "t"), copied_to.ref(f"copied/{key}", "t"))
    assert registry_problems(copied_to, f"copied/{key}", "t", tree) == [], f"{peer.name} lost the image"

    result = promote(copied_to.ref(f"copied/{key}", "t"), ours.ref(f"promoted/{key}", "t"))
    assert result["digest"] == image.digest
    assert result["destinations"][0]["pinned"] == f"{ours.host}/promoted/{key}@{image.digest}"
    assert registry_problems(ours, f"promoted/{key}", "t", tree) == []


def _read_params() -> list[object]:
    out: list[object] = []
    for key in READ_KEYS:
        for name in PEER_NAMES:
            marks = [ORAS_CHECKS_CONTENT_TYPE] if (key, name) == ("ggcr-3", "oras") else []
            out.append(pytest.param(key, name, marks=marks, id=f"{key}-{name}"))
    return out


@pytest.mark.parametrize(("key", "peer_name"), _read_params())
def test_a_peer_reads_what_we_promoted_and_we_read_its_layout(
    key: str,
    peer_name: str,
    built_layout: Path,
    registry: RunningRegistry,
    registry2: RunningRegistry,
    tmp_path: Path,
) -> None:
    peer = require_peer(peer_name)
    image = _image(key, built_layout)
    tree = image_tree(image.layout, image.digest)
    ref = registry.ref(f"ours/{key}", "t")

    assert promote(f"oci:{image.layout}:{image.tag}", ref)["digest"] == image.digest
    assert peer.manifest(ref) == tree.manifests[image.digest]
    for digest, raw in tree.manifests.items():
        assert peer.manifest(f"{registry.host}/ours/{key}@{digest}") == raw, digest

    pulled = tmp_path / f"pulled-by-{peer.name}"
    source = peer.pull_layout(ref, pulled)
    assert layout_problems(pulled, tree) == [], f"{peer.name} did not pull every blob intact"

    # The layout the peer wrote is our source now.
    result = promote(source, registry2.ref(f"from-{peer.name}-layout/{key}", "t"))
    assert result["digest"] == image.digest == digest_of(tree.manifests[image.digest])
    assert registry_problems(registry2, f"from-{peer.name}-layout/{key}", "t", tree) == []


def test_the_checks_see_a_missing_blob_altered_bytes_and_an_empty_registry(
    registry: RunningRegistry, tmp_path: Path
) -> None:
    layout = FIXTURES_DIR / "containers-image-multiple-images"
    tree = image_tree(layout, tagged_digest(layout, "latest"))
    assert len(tree.manifests) == 3 and len(tree.blobs) == 4
    copy = tmp_path / "copy"
    shutil.copytree(layout, copy)
    assert layout_problems(copy, tree) == []
    blobs = copy / "blobs" / "sha256"
    layer, child = next(iter(tree.blobs)), next(d for d in tree.manifests if d != tree.top)
    (blobs / layer.removeprefix("sha256:")).unlink()
    (blobs / child.removeprefix("sha256:")).write_bytes(b"{}")
    assert layout_problems(copy, tree) == [f"{child} altered", f"{layer} missing"]
    problems = registry_problems(registry, "nothing/here", "t", tree)
    assert len(problems) == 1 + len(tree.manifests) + len(tree.blobs)
