"""Round trips over a slow link (the bench's delay line in front of real registries).

Questions that do not depend on each other must go out together: every round trip
before the first upload costs the link's latency on the critical path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import oci_promote
from bench.relay import DelayLine, SeenRequest
from bench.report import kind, waves
from testkit.images import build_layout
from testkit.registry import RunningRegistry
from testkit.signing import SigningWorld

DELAY = 0.150  # each way: sequential requests start >= 300 ms apart, concurrent ones a few ms
#: (that many ms of scheduling jitter on a loaded machine still do not split a round trip)


def _promote_over_the_line(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> list[SeenRequest]:
    layout = tmp_path / "layout"
    build_layout(layout, "v1", ["amd64", "arm64"], 2, 4096)
    oci_promote.copy(f"oci:{layout}:v1", [registry.ref("team/app", "v1")])
    line = DelayLine(DELAY)
    try:
        src, dest = line.add("src", registry.host), line.add("dest", registry2.host)
        result = oci_promote.copy(
            f"{src.host}/team/app:v1", [f"{dest.host}/prod/app:v1"], plain_http=[src.host, dest.host]
        )
        assert not result.destinations[0].up_to_date
        return sorted([*src.requests, *dest.requests], key=lambda r: r.at)
    finally:
        line.close()


def _named(wave: list[SeenRequest]) -> set[str]:
    return {f"{r.relay}: {kind(r.method, r.path)}" for r in wave}


@pytest.mark.slow  # a dozen round trips of 300 ms
def test_the_source_and_the_destination_are_asked_in_the_same_first_round_trip(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    timeline = _promote_over_the_line(tmp_path, registry, registry2)
    # the blob phase starts with the upload POSTs and, overlapping them, the source blob GETs
    first_blob = next(n for n, r in enumerate(timeline) if r.method == "POST" or "/blobs/" in r.path)
    before = waves(timeline[:first_blob], DELAY)
    assert _named(before[0]) == {"src: GET manifest by tag", "dest: HEAD manifest by tag"}
    # then the children, the referrers and what the destination holds, overlapped: was 8
    assert len(before) <= 4, [sorted(_named(w)) for w in before]


@pytest.mark.peers  # cosign and oras sign
@pytest.mark.slow  # about 20 round trips of 300 ms
def test_referrers_are_written_together_not_one_after_another(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    """A signature, an attestation, an SBOM and a signature on the SBOM: their blobs,
    manifests, indexes and digest tags go out step by step, each step's writes together."""
    layout = tmp_path / "layout"
    digest = build_layout(layout, "v1", ["amd64"], 1, 4096)
    oci_promote.copy(f"oci:{layout}:v1", [registry.ref("team/app", "v1")])
    world = SigningWorld(tmp_path / "signing")
    keys = world.key_pair()
    subject = f"{registry.host}/team/app@{digest}"
    world.cosign_sign(subject, keys)
    world.cosign_attest(subject, keys)
    sbom = world.oras_attach(subject, "application/spdx+json", "{}")
    world.oras_attach(f"{registry.host}/team/app@{sbom['digest']}", "application/vnd.example.sig", "s")
    line = DelayLine(DELAY)
    try:
        src, dest = line.add("src", registry.host), line.add("dest", registry2.host)
        result = oci_promote.copy(
            f"{src.host}/team/app:v1", [f"{dest.host}/prod/app:v1"], plain_http=[src.host, dest.host]
        )
        timeline = sorted([*src.requests, *dest.requests], key=lambda r: r.at)
    finally:
        line.close()
    assert result.destinations[0].referrers_copied == 4
    tag_put = next(
        n for n, r in enumerate(timeline) if r.method == "PUT" and r.path.endswith("/manifests/v1")
    )
    before_tag = waves(timeline[:tag_put], DELAY)
    # the image (source reads, inventory, blobs), then the referrers: blobs (HEAD, POST, PUT),
    # manifests in two depths, then indexes and digest tags (read, write, read back): 19, as
    # the README says, or 20 when one referrer blob's upload starts a round trip after the
    # others (1 run in 13 here); was 48 before the tag, the referrers one write at a time
    assert len(before_tag) <= 20, [sorted(_named(w)) for w in before_tag]
