"""`diff` on hand-made cases (re-serialised JSON, a rebuilt config), hostile inputs, and `verify`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from testkit import skopeo
from testkit.images import OCI_INDEX, OCI_MANIFEST
from testkit.registry import RunningRegistry
from tests.integration.diff_tools import (
    _blob,
    build_image,
    codes,
    diff,
    nest,
    put_index,
    read_blob,
    redump,
    seed,
    seed_and_copy,
    skopeo_copy,
    top_descriptor,
)

WRITES = ("PUT", "POST", "PATCH", "DELETE")
REF_NAME = "org.opencontainers.image.ref.name"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oci_promote", *args], capture_output=True, text=True, timeout=120, check=False
    )


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("oci-promote: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_reserialized_child_is_named_with_its_platform(registry: RunningRegistry, tmp_path: Path) -> None:
    """The arm64 manifest re-dumped (sorted keys, compact): only that platform is reserialized."""
    layout = tmp_path / "layout"
    skopeo.copy_all_to_oci(seed(registry, tmp_path, "src/app"), layout, tag="v1")
    index = json.loads(read_blob(layout, top_descriptor(layout)["digest"]))
    arm = index["manifests"][1]
    assert arm["platform"]["architecture"] == "arm64"
    index["manifests"][1] = redump(
        layout, arm["digest"], OCI_MANIFEST, sort_keys=True, separators=(",", ":")
    ) | {"platform": arm["platform"]}
    put_index(layout, index["manifests"], "redumped", indent=2)
    skopeo.copy_oci_to_registry(layout, "redumped", registry.ref("src/app", "redumped"))
    status, result, _ = diff(registry.ref("src/app", "v1"), registry.ref("src/app", "redumped"))
    assert status == 1
    assert result is not None
    assert [(c["code"], c.get("platform")) for c in result["causes"]] == [("reserialized", "linux/arm64")]
    detail = result["causes"][0]["detail"]
    assert "indentation (2 spaces -> none)" in detail and "key order" in detail and "spacing" in detail


def test_trailing_newline_and_escapes_are_named(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    build_image(layout, created="2024-01-01T00:00:00Z")
    top = top_descriptor(layout)
    body = json.loads(read_blob(layout, top["digest"]))
    body["annotations"] = {"org.example.note": "<café>"}
    first = _blob(layout, json.dumps(body, indent=2).encode(), OCI_MANIFEST)
    second = _blob(layout, json.dumps(body, indent=2, ensure_ascii=False).encode() + b"\n", OCI_MANIFEST)
    tags = [first | {"annotations": {REF_NAME: "a"}}, second | {"annotations": {REF_NAME: "b"}}]
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": tags}))
    status, result, _ = diff(f"oci:{layout}:a", f"oci:{layout}:b")
    assert status == 1 and codes(result) == {"reserialized"}
    assert result is not None
    detail = result["causes"][0]["detail"]
    assert "trailing newline (added)" in detail and "escapes (\\u00e9 -> é)" in detail


def test_rebuilt_with_another_created_is_config_differ_only(
    registry: RunningRegistry, tmp_path: Path
) -> None:
    build_image(tmp_path / "one", created="2024-01-01T00:00:00Z")
    build_image(tmp_path / "two", created="2025-06-01T12:00:00Z")
    skopeo.copy_oci_to_registry(tmp_path / "one", "v1", registry.ref("app", "one"))
    skopeo.copy_oci_to_registry(tmp_path / "two", "v1", registry.ref("app", "two"))
    status, result, _ = diff(registry.ref("app", "one"), registry.ref("app", "two"))
    assert status == 1 and codes(result) == {"config-differ"}
    assert result is not None
    assert "created (2024-01-01T00:00:00Z -> 2025-06-01T12:00:00Z)" in result["causes"][0]["detail"]
    human = cli("diff", registry.ref("app", "one"), registry.ref("app", "two"))
    assert human.returncode == 1 and human.stdout.startswith("B is another image than A, with another config")


def test_diff_reads_no_layer_unless_a_cause_needs_it(registry: RunningRegistry, tmp_path: Path) -> None:
    build_image(tmp_path / "one", created="2024-01-01T00:00:00Z")
    build_image(tmp_path / "two", created="2025-01-01T00:00:00Z")
    skopeo.copy_oci_to_registry(tmp_path / "one", "v1", registry.ref("app", "one"))
    skopeo.copy_oci_to_registry(tmp_path / "two", "v1", registry.ref("app", "two"))
    layer = json.loads(read_blob(tmp_path / "one", top_descriptor(tmp_path / "one")["digest"]))["layers"][0]
    mark = registry.mark()
    assert cli("diff", registry.ref("app", "one"), registry.ref("app", "two")).returncode == 1
    seen = registry.requests_since(mark)
    assert not [e for e in seen if e.method in WRITES]
    assert not [e for e in seen if layer["digest"] in e.path], "a layer was read, though diff_ids tell all"


def test_identical_layouts_exit_zero(tmp_path: Path) -> None:
    build_image(tmp_path / "one", created="2024-01-01T00:00:00Z")
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    result = cli("diff", f"oci:{tmp_path / 'one'}:v1", f"oci:{tmp_path / 'two'}:v1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("A and B are the same image (sha256:")


def test_huge_config_is_refused_in_one_line(tmp_path: Path) -> None:
    build_image(tmp_path / "one", created="2024-01-01T00:00:00Z")
    build_image(tmp_path / "two", created="2024-01-01T00:00:00Z", config_pad=5 * 1024 * 1024)
    result = cli("diff", f"oci:{tmp_path / 'one'}:v1", f"oci:{tmp_path / 'two'}:v1")
    assert result.returncode == 2 and result.stdout == ""
    assert "over the 4194304-byte limit" in one_error_line(result.stderr)


def test_deep_indexes_stop_at_the_depth_limit(tmp_path: Path) -> None:
    for name, created in (("one", "2024-01-01T00:00:00Z"), ("two", "2025-01-01T00:00:00Z")):
        build_image(tmp_path / name, created=created)
        nest(tmp_path / name, top_descriptor(tmp_path / name), depth=9)
    result = cli("diff", f"oci:{tmp_path / 'one'}:v1", f"oci:{tmp_path / 'two'}:v1")
    assert result.returncode == 2
    assert "indexes nest deeper than 4 levels" in one_error_line(result.stderr)


def test_descriptor_size_that_lies_is_refused(tmp_path: Path) -> None:
    for name, created in (("one", "2024-01-01T00:00:00Z"), ("two", "2025-01-01T00:00:00Z")):
        build_image(tmp_path / name, created=created)
    child = top_descriptor(tmp_path / "two")
    nest(
        tmp_path / "one",
        top_descriptor(tmp_path / "one") | {"platform": {"os": "linux", "architecture": "amd64"}},
        1,
    )
    (tmp_path / "two" / "blobs" / "sha256").mkdir(exist_ok=True)
    put_index(
        tmp_path / "two",
        [child | {"size": child["size"] + 7, "platform": {"os": "linux", "architecture": "amd64"}}],
        "v1",
    )
    result = cli("diff", f"oci:{tmp_path / 'one'}:v1", f"oci:{tmp_path / 'two'}:v1")
    assert result.returncode == 2
    assert "descriptor says" in one_error_line(result.stderr)


def test_config_whose_bytes_do_not_match_its_digest_is_refused(tmp_path: Path) -> None:
    build_image(tmp_path / "one", created="2024-01-01T00:00:00Z")
    build_image(tmp_path / "two", created="2025-01-01T00:00:00Z")
    manifest = json.loads(read_blob(tmp_path / "two", top_descriptor(tmp_path / "two")["digest"]))
    config = tmp_path / "two" / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]
    config.write_bytes(config.read_bytes().replace(b"2025", b"2026"))  # same size, other bytes
    result = cli("diff", f"oci:{tmp_path / 'one'}:v1", f"oci:{tmp_path / 'two'}:v1")
    assert result.returncode == 2
    assert "does not match its digest" in one_error_line(result.stderr)


def test_bad_reference_and_missing_image_exit_two(registry: RunningRegistry) -> None:
    assert cli("diff", "UPPER/Case::", registry.ref("a", "b")).returncode == 2
    result = cli("diff", registry.ref("nothing", "here"), registry.ref("nothing", "there"))
    assert result.returncode == 2
    one_error_line(result.stderr)


def test_verify_passes_when_every_reference_holds_the_digest(
    registry: RunningRegistry, registry2: RunningRegistry, tmp_path: Path
) -> None:
    a, b = seed_and_copy(registry, registry2, tmp_path, "prod/app", "--all", "--preserve-digests")
    digest = cli("digest", a).stdout.strip()
    result = cli("verify", a, b, "--digest", digest)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{a}: ok ({digest})", f"{b}: ok ({digest})"]


def test_verify_names_the_causes_of_a_mismatch_and_never_writes(
    registry: RunningRegistry, tmp_path: Path
) -> None:
    a = seed(registry, tmp_path, "src/app")
    digest = cli("digest", a).stdout.strip()
    prod = registry.ref("src/app", "prod")
    skopeo_copy(a, prod, "--all", "--format", "v2s2")
    missing = registry.ref("src/app", "gone")
    mark = registry.mark()
    result = cli("verify", "--json", a, prod, missing, "--digest", digest)
    assert result.returncode == 1, result.stderr
    assert not [e for e in registry.requests_since(mark) if e.method in WRITES]
    report = json.loads(result.stdout)
    assert report["verified"] is False and report["digest"] == digest
    ok, converted, gone = report["references"]
    assert ok == {"reference": a, "digest": digest, "ok": True}
    assert converted["ok"] is False and converted["digest"] != digest
    assert {c["code"] for c in converted["causes"]} == {"media-type-converted", "reserialized"}
    assert gone["ok"] is False and gone["digest"] is None and "does not resolve" in gone["note"]


def test_verify_without_the_expected_digest_beside_it_says_so(
    registry: RunningRegistry, registry2: RunningRegistry, tmp_path: Path
) -> None:
    a = seed(registry, tmp_path, "src/app")
    digest = cli("digest", a).stdout.strip()
    elsewhere = registry2.ref("other/app", "v1")
    skopeo_copy(a, elsewhere, "--all", "--format", "v2s2")
    result = cli("verify", elsewhere, "--digest", digest)
    assert result.returncode == 1
    assert "cannot be read beside it, so the causes cannot be told" in result.stdout


def test_verify_rejects_a_malformed_digest() -> None:
    result = cli("verify", "oci:/nonexistent:v1", "--digest", "sha256:nothex")
    assert result.returncode == 2
    assert "invalid digest" in one_error_line(result.stderr)


def test_verify_works_on_layouts(tmp_path: Path) -> None:
    digest = build_image(tmp_path / "one", created="2024-01-01T00:00:00Z")
    other = build_image(tmp_path / "one", created="2025-01-01T00:00:00Z", tag="v2")
    # the layout's index.json now names only v2; give it both so v1's digest is readable beside it
    entries = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": d,
            "size": len(read_blob(tmp_path / "one", d)),
            "annotations": {REF_NAME: t},
        }
        for d, t in ((digest, "v1"), (other, "v2"))
    ]
    (tmp_path / "one" / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))
    assert cli("verify", f"oci:{tmp_path / 'one'}:v1", "--digest", digest).returncode == 0
    result = cli("verify", "--json", f"oci:{tmp_path / 'one'}:v2", "--digest", digest)
    assert result.returncode == 1
    (outcome,) = json.loads(result.stdout)["references"]
    assert {c["code"] for c in outcome["causes"]} == {"config-differ"}


def test_index_of_docker_list_is_not_confused(tmp_path: Path) -> None:
    """A Docker manifest list and the same list as an OCI index: converted, nothing else."""
    build_image(tmp_path / "l", created="2024-01-01T00:00:00Z")
    child = top_descriptor(tmp_path / "l") | {"platform": {"os": "linux", "architecture": "amd64"}}
    put_index(tmp_path / "l", [child], "oci", indent=2)
    oci = json.loads((tmp_path / "l" / "index.json").read_text())["manifests"][0]
    docker_list = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [child],
    }
    docker = _blob(tmp_path / "l", json.dumps(docker_list, indent=2).encode(), OCI_INDEX)
    docker["mediaType"] = docker_list["mediaType"]
    (tmp_path / "l" / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "manifests": [oci, docker | {"annotations": {REF_NAME: "docker"}}]})
    )
    status, result, _ = diff(f"oci:{tmp_path / 'l'}:oci", f"oci:{tmp_path / 'l'}:docker")
    assert status == 1 and codes(result) == {"media-type-converted"}
