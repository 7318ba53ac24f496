"""`oci-promote diff` against images that real tools rewrote: each case names its exact causes.

A is a fresh two-platform OCI image (linux/amd64, linux/arm64) pushed with skopeo
byte for byte; B is what skopeo, crane, regctl or buildah made of it. The sets
of codes were checked by hand against the raw manifests the first time (for
example crane writes `artifactType` into index descriptors, hence `other` after
`crane flatten`, and `crane mutate` sets the config's `created`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from testkit.registry import RunningRegistry
from tests.integration.diff_tools import buildah, codes, crane, diff, regctl, seed, seed_and_copy, skopeo_copy

AMD64_ARM64 = {"linux/amd64", "linux/arm64"}


def platforms_of(result: dict[str, object], code: str) -> set[str]:
    causes = result["causes"]
    assert isinstance(causes, list)
    return {c["platform"] for c in causes if c["code"] == code and "platform" in c}


def test_a_byte_for_byte_copy_is_identical(
    registry: RunningRegistry, registry2: RunningRegistry, tmp_path: Path
) -> None:
    a, b = seed_and_copy(registry, registry2, tmp_path, "copy/app", "--all", "--preserve-digests")
    status, result, _ = diff(a, b)
    assert status == 0
    assert result is not None and result["identical"] is True and result["causes"] == []
    assert result["a"]["digest"] == result["b"]["digest"]


def test_skopeo_format_v2s2_all_converts_and_reserializes_every_platform(
    registry: RunningRegistry, registry2: RunningRegistry, tmp_path: Path
) -> None:
    a, b = seed_and_copy(registry, registry2, tmp_path, "v2s2/app", "--all", "--format", "v2s2")
    status, result, _ = diff(a, b)
    assert status == 1
    assert codes(result) == {"media-type-converted", "reserialized"}
    assert result is not None
    assert platforms_of(result, "media-type-converted") == AMD64_ARM64
    assert result["b"]["media_type"] == "application/vnd.docker.distribution.manifest.list.v2+json"


def test_skopeo_format_oci_all_converts_docker_back(
    registry: RunningRegistry, registry2: RunningRegistry, tmp_path: Path
) -> None:
    a = registry2.ref("v2s2/app", "v1")
    skopeo_copy(seed(registry, tmp_path, "src/app"), a, "--all", "--format", "v2s2")
    b = registry2.ref("oci/app", "v1")
    skopeo_copy(a, b, "--all", "--format", "oci")
    status, result, _ = diff(a, b)
    assert status == 1
    assert codes(result) == {"media-type-converted", "reserialized"}


def test_skopeo_without_all_pulls_one_platform_out(
    registry: RunningRegistry, registry2: RunningRegistry, tmp_path: Path
) -> None:
    a, b = seed_and_copy(
        registry, registry2, tmp_path, "one/app", "--override-arch", "arm64", "--override-os", "linux"
    )
    status, result, _ = diff(a, b)
    assert status == 1
    assert codes(result) == {"platform-extracted"}
    assert result is not None and platforms_of(result, "platform-extracted") == {"linux/arm64"}


def test_skopeo_single_platform_to_v2s2_is_extracted_converted_reserialized(
    registry: RunningRegistry, registry2: RunningRegistry, tmp_path: Path
) -> None:
    a = seed(registry, tmp_path, "src/app")
    b = registry2.ref("one/app", "docker")
    skopeo_copy(a, b, "--format", "v2s2", "--override-arch", "amd64", "--override-os", "linux")
    status, result, _ = diff(a, b)
    assert status == 1
    assert codes(result) == {"platform-extracted", "media-type-converted", "reserialized"}


@pytest.mark.peers
def test_crane_mutate_annotation(registry: RunningRegistry, tmp_path: Path) -> None:
    a = seed(registry, tmp_path, "single/app", ("amd64",))
    b = registry.ref("single/app", "annotated")
    crane(tmp_path / "home", "mutate", "--annotation", "org.example.team=blue", "-t", b, a)
    status, result, _ = diff(a, b)
    assert status == 1
    # crane also writes the config again, adding "created": "0001-01-01T00:00:00Z"
    assert codes(result) == {"annotations-differ", "config-differ", "reserialized"}
    assert result is not None
    (annotations,) = [c for c in result["causes"] if c["code"] == "annotations-differ"]
    assert "org.example.team" in annotations["detail"]


@pytest.mark.peers
def test_crane_index_append_wraps_the_image(registry: RunningRegistry, tmp_path: Path) -> None:
    a = seed(registry, tmp_path, "single/app", ("amd64",))
    other = seed(registry, tmp_path, "other/app", ("s390x",))
    b = registry.ref("index/app", "v1")
    crane(tmp_path / "home", "index", "append", "-m", a, "-m", other, "-t", b)
    status, result, _ = diff(a, b)
    assert status == 1
    assert codes(result) == {"index-wrapped"}
    assert result is not None and platforms_of(result, "index-wrapped") == {"linux/amd64"}


@pytest.mark.peers
def test_crane_flatten(registry: RunningRegistry, tmp_path: Path) -> None:
    a = seed(registry, tmp_path, "src/app")
    b = registry.ref("src/app", "flat")
    crane(tmp_path / "home", "flatten", "-t", b, a)
    status, result, _ = diff(a, b)
    assert status == 1
    # other: crane adds artifactType to the index's descriptors
    assert codes(result) == {"config-differ", "layers-differ", "other", "reserialized"}
    assert result is not None and platforms_of(result, "layers-differ") == AMD64_ARM64


@pytest.mark.peers
def test_regctl_annotation(registry: RunningRegistry, tmp_path: Path) -> None:
    a = seed(registry, tmp_path, "src/app")
    regctl(
        tmp_path / "home", registry, "image", "mod", a, "--annotation", "org.example.k=v", "--create", "ann"
    )
    status, result, _ = diff(a, registry.ref("src/app", "ann"))
    assert status == 1
    assert codes(result) == {"annotations-differ", "reserialized"}


@pytest.mark.peers
def test_regctl_layer_compress_zstd(registry: RunningRegistry, tmp_path: Path) -> None:
    a = seed(registry, tmp_path, "src/app")
    regctl(tmp_path / "home", registry, "image", "mod", a, "--layer-compress", "zstd", "--create", "zstd")
    status, result, _ = diff(a, registry.ref("src/app", "zstd"))
    assert status == 1
    # regctl also rewrites the config, dropping the empty "config" object
    assert codes(result) == {"config-differ", "layers-recompressed", "reserialized"}
    assert result is not None
    recompressed = [c for c in result["causes"] if c["code"] == "layers-recompressed"]
    assert {c["platform"] for c in recompressed} == AMD64_ARM64
    assert all("gzip, fastest (level 1)" in c["detail"] and "(zstd)" in c["detail"] for c in recompressed)


@pytest.mark.peers
def test_regctl_to_docker_and_to_oci(registry: RunningRegistry, tmp_path: Path) -> None:
    a = seed(registry, tmp_path, "src/app")
    home = tmp_path / "home"
    regctl(home, registry, "image", "mod", a, "--to-docker", "--create", "docker")
    docker = registry.ref("src/app", "docker")
    status, result, _ = diff(a, docker)
    assert status == 1 and codes(result) == {"media-type-converted", "reserialized"}
    regctl(home, registry, "image", "mod", docker, "--to-oci", "--create", "oci")
    status, result, _ = diff(docker, registry.ref("src/app", "oci"))
    # both sides written by regctl: same JSON style, so only the media types tell them apart
    assert status == 1 and codes(result) == {"media-type-converted"}


def test_buildah_pull_and_push_is_the_seed_scenario(
    registry: RunningRegistry, registry2: RunningRegistry, tmp_path: Path
) -> None:
    """What a `docker pull` + `docker push` does: one platform, other JSON, layers compressed again."""
    a = seed(registry, tmp_path, "src/app")
    b = registry2.ref("pushed/app", "v1")
    buildah(tmp_path / "buildah", "pull", "--tls-verify=false", a)
    buildah(tmp_path / "buildah", "push", "--tls-verify=false", a, f"docker://{b}")
    status, result, _ = diff(a, b)
    assert status == 1
    assert codes(result) == {"layers-recompressed", "platform-extracted", "reserialized"}
    human = subprocess.run(
        [sys.executable, "-m", "oci_promote", "diff", a, b], capture_output=True, text=True, check=False
    )
    assert human.returncode == 1
    assert human.stdout.startswith("B is the linux/amd64 image of A's index, written again with other JSON")


@pytest.mark.parametrize("flag", ["--format=v2s2"])
def test_json_has_the_contract_fields(
    registry: RunningRegistry, registry2: RunningRegistry, tmp_path: Path, flag: str
) -> None:
    a, b = seed_and_copy(registry, registry2, tmp_path, "x/app", "--all", flag)
    _, result, _ = diff(a, b)
    assert result is not None
    assert set(result) == {"a", "b", "identical", "causes"}
    assert set(result["a"]) == {"reference", "digest", "media_type"} and result["identical"] is False
    assert all(
        {"code", "detail"} <= set(c) <= {"code", "detail", "platform", "path"} for c in result["causes"]
    )
