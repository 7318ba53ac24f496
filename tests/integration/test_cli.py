"""The CLI as a user meets it: stdout, stderr, exit codes, and what reaches the registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testkit import skopeo
from testkit.registry import RunningRegistry
from tests.conftest import FIXTURES_DIR

V3 = "sha256:6fe828b32b9b4572f32b16c1c0a4d675660b19ec207d010724309374252c2d6d"
TESTREPO = FIXTURES_DIR / "regclient-testrepo"
WRITES = ("PUT", "POST", "PATCH", "DELETE")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `oci-promote` as a separate process with a clean Docker config location."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_PROMOTE_", "DOCKER_"))}
    base["DOCKER_CONFIG"] = "/nonexistent-docker-config"
    return subprocess.run(
        [sys.executable, "-m", "oci_promote", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=120,
        check=False,
    )


def seed(registry: RunningRegistry, repo: str = "src/app", tag: str = "v3") -> str:
    """The fixture's v3 alone: its two untagged SBOMs stay behind (tests that count requests)."""
    result = cli("copy", "--no-referrers", f"oci:{TESTREPO}:v3", f"{registry.host}/{repo}:{tag}")
    assert result.returncode == 0, result.stderr
    return f"{registry.host}/{repo}:{tag}"


def test_copy_prints_one_pinned_reference_per_destination(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    result = cli("copy", source, f"{registry2.host}/a/one", f"{registry2.host}/b/two:stable")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{registry2.host}/a/one@{V3}", f"{registry2.host}/b/two@{V3}"]
    # a destination without a tag took the source's tag
    assert skopeo.inspect_raw(f"{registry2.host}/a/one:v3") == skopeo.inspect_raw(source)
    assert skopeo.inspect_raw(f"{registry2.host}/b/two:stable") == skopeo.inspect_raw(source)


def test_json_output_has_the_result_fields(registry: RunningRegistry, registry2: RunningRegistry) -> None:
    source = seed(registry)
    result = cli("copy", "--json", source, f"{registry2.host}/x/y:z")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["digest"] == V3
    assert data["media_type"] == "application/vnd.oci.image.index.v1+json"
    assert data["source"] == source
    (dest,) = data["destinations"]
    assert dest["pinned"] == f"{registry2.host}/x/y@{V3}"
    assert dest["reference"] == f"{registry2.host}/x/y:z"
    assert dest["blobs_copied"] == 9 and dest["blobs_mounted"] == 0 and dest["blobs_skipped"] == 0
    assert dest["bytes_copied"] > 0 and dest["seconds"] >= 0


def test_second_identical_copy_sends_no_blob_and_no_manifest(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    dest = f"{registry2.host}/idem/app:v3"
    assert cli("copy", source, dest).returncode == 0
    mark = registry2.mark()
    again = cli("copy", "--json", source, dest)
    assert again.returncode == 0, again.stderr
    seen = registry2.requests_since(mark)
    assert seen, "the re-run must still check the destination"
    assert all(e.method == "HEAD" for e in seen), seen
    assert not [e for e in seen if "/blobs/" in e.path]
    assert json.loads(again.stdout)["destinations"][0]["up_to_date"] is True


def test_same_registry_copy_mounts_and_uploads_no_blob_bytes(registry: RunningRegistry) -> None:
    source = seed(registry)
    mark = registry.mark()
    result = cli("copy", "--json", source, f"{registry.host}/other/app")
    assert result.returncode == 0, result.stderr
    seen = registry.requests_since(mark)
    mounts = [e for e in seen if e.method == "POST" and "mount" in e.query]
    assert len(mounts) == 9 and all(e.status == 201 for e in mounts)
    assert not [e for e in seen if e.method in ("PUT", "PATCH") and "/blobs/uploads/" in e.path]
    dest = json.loads(result.stdout)["destinations"][0]
    assert dest["blobs_mounted"] == 9 and dest["bytes_copied"] == 0


def test_blob_shared_by_platforms_moves_once(registry: RunningRegistry) -> None:
    # v3's four platform manifests share the same five gzip layers.
    mark = registry.mark()
    assert cli("copy", "--no-referrers", f"oci:{TESTREPO}:v3", f"{registry.host}/shared/app").returncode == 0
    puts = [e.path for e in registry.requests_since(mark) if e.method == "PUT" and "/blobs/" in e.path]
    assert len(puts) == len(set(puts)) == 9


def test_retag_within_a_repository_sends_only_the_tag(registry: RunningRegistry) -> None:
    source = seed(registry)
    mark = registry.mark()
    assert cli("copy", source, f"{registry.host}/src/app:stable").returncode == 0
    writes = [e for e in registry.requests_since(mark) if e.method in WRITES]
    assert [(e.method, e.path) for e in writes] == [("PUT", "/v2/src/app/manifests/stable")]


def test_dry_run_writes_nothing_and_shows_the_plan(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    mark = registry2.mark()
    result = cli("copy", "--dry-run", "--json", source, f"{registry2.host}/dry/app")
    assert result.returncode == 0, result.stderr
    assert not [e for e in registry2.requests_since(mark) if e.method in WRITES]
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True
    assert plan["destinations"][0]["blobs_missing"] == 9
    assert plan["destinations"][0]["bytes_missing"] > 0
    text = cli("copy", "--dry-run", source, f"{registry2.host}/dry/app")
    assert "9 blobs" in text.stdout


def test_expected_digest_mismatch_fails_before_writing(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    wrong = "sha256:" + "0" * 64
    mark = registry2.mark()
    result = cli("copy", "--expected-digest", wrong, source, f"{registry2.host}/guard/app:v1")
    assert result.returncode == 1
    assert wrong in result.stderr and V3 in result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()[-1]) > 0 and "Traceback" not in result.stderr
    assert not [e for e in registry2.requests_since(mark) if e.method in WRITES]
    ok = cli("copy", "--expected-digest", V3, source, f"{registry2.host}/guard/app:v1")
    assert ok.returncode == 0, ok.stderr


def test_destination_digest_must_equal_source_digest(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    wrong = "sha256:" + "1" * 64
    result = cli("copy", source, f"{registry2.host}/pin/app@{wrong}")
    assert result.returncode == 1
    assert wrong in result.stderr and "nothing was copied" in result.stderr
    ok = cli("copy", source, f"{registry2.host}/pin/app@{V3}")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"{registry2.host}/pin/app@{V3}"


def test_digest_command(registry: RunningRegistry) -> None:
    source = seed(registry)
    result = cli("digest", source)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == V3
    assert cli("digest", f"oci:{TESTREPO}:v3").stdout.strip() == V3


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["copy", "Bad/Upper:tag", "localhost:1/x"], "lowercase"),
        (["copy", "localhost:1/x:bad:tag", "localhost:1/y"], "invalid"),
        (["copy", "localhost:1/x@sha256:abc", "localhost:1/y"], "sha256"),
        (["copy", "localhost:1/x@md5:" + "a" * 32, "localhost:1/y"], "md5"),
        (["copy", "--expected-digest", "nope", "localhost:1/x", "localhost:1/y"], "nope"),
        (["copy", "--jobs", "0", "localhost:1/x", "localhost:1/y"], "jobs"),
        (["copy", "--src-creds", "no-colon", "localhost:1/x", "localhost:1/y"], "credentials"),
        (["copy", "oci:/nonexistent/layout", "localhost:1/y"], "not an OCI image layout"),
        (["copy", f"oci:{TESTREPO}:nosuchtag", "localhost:1/y"], "nosuchtag"),
        (["copy", "--ca-file", "/nonexistent.pem", "localhost:1/x", "localhost:1/y"], "/nonexistent.pem"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(args: list[str], needle: str) -> None:
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("oci-promote: error:")]
    assert errors == [result.stderr.strip().splitlines()[-1]]


def test_bad_destination_fails_before_any_request(registry: RunningRegistry) -> None:
    source = seed(registry)
    mark = registry.mark()
    result = cli("copy", source, f"{registry.host}/ok/dest", f"{registry.host}/Bad/Dest")
    assert result.returncode == 2
    assert "lowercase" in result.stderr
    assert registry.requests_since(mark) == []


def test_unknown_image_is_a_clear_failure(registry: RunningRegistry, registry2: RunningRegistry) -> None:
    result = cli("copy", f"{registry.host}/no/such:image", f"{registry2.host}/x/y")
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert "no/such" in line and registry.host in line and "not found" in line
    assert "Traceback" not in result.stderr


def test_unreachable_registry_is_a_clear_failure(tmp_path: Path) -> None:
    from testkit.registry import free_port

    port = free_port()
    result = cli("copy", "--timeout", "5", f"127.0.0.1:{port}/a/b:c", f"127.0.0.1:{port}/d/e")
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
