"""Work the engine must not repeat (issue 13.3, 13.4) and debris it must not leave (13.12, 13.13).

Each test counts what reaches a real registry (its access log or its storage).
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

import oci_promote
from oci_promote.errors import PromoteError
from testkit import quirks
from testkit.images import build_layout
from testkit.proxy import Action, Forward, Proxy, RequestView, Stall
from testkit.registry import RunningRegistry
from tests.integration.test_cli import V3, WRITES, cli, seed

#: regclient-testrepo's v3: 9 blobs, 4 platform manifests under one index.
V3_BLOBS, V3_CHILDREN = 9, 4


def _blob_uploads(entries: list) -> list:  # type: ignore[type-arg]
    return [e for e in entries if e.method == "POST" and "/blobs/uploads/" in e.path]


def test_two_tags_in_one_repository_upload_each_blob_once(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    mark = registry2.mark()
    result = cli("copy", source, f"{registry2.host}/prod/api:1.4.2", f"{registry2.host}/prod/api:stable")
    assert result.returncode == 0, result.stderr
    seen = registry2.requests_since(mark)
    assert len(_blob_uploads(seen)) == V3_BLOBS
    manifest_puts = [e.path for e in seen if e.method == "PUT" and "/manifests/" in e.path]
    assert len(manifest_puts) == V3_CHILDREN + 2  # the children once, then one PUT per tag
    assert sorted(manifest_puts[-2:]) == ["/v2/prod/api/manifests/1.4.2", "/v2/prod/api/manifests/stable"]
    assert result.stdout.splitlines() == [f"{registry2.host}/prod/api@{V3}"] * 2


@pytest.mark.slow
def test_a_rerun_after_an_interrupted_copy_sends_no_blob_again(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    """distribution says NAME_UNKNOWN to tags/list for a repository with blobs but no tag."""
    source = seed(registry)

    def refuse_manifests(request: RequestView) -> Action:
        if request.method == "PUT" and "/manifests/" in request.path:
            return quirks.oci_error(500, "UNKNOWN", "storage backend failed")
        return Forward()

    with Proxy(registry2.url, refuse_manifests) as cut, pytest.raises(PromoteError):
        oci_promote.copy(source, [f"{cut.host}/half/app"], retries=0)
    with registry2.client() as client:
        assert "NAME_UNKNOWN" in client.get("/v2/half/app/tags/list").text  # what makes it a trap
    mark = registry2.mark()
    dry = cli("copy", "--dry-run", "--json", source, f"{registry2.host}/half/app")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["destinations"][0]["blobs_missing"] == 0
    again = cli("copy", source, f"{registry2.host}/half/app")
    assert again.returncode == 0, again.stderr
    seen = registry2.requests_since(mark)
    assert _blob_uploads(seen) == []
    assert len([e for e in seen if e.method == "HEAD" and "/blobs/" in e.path]) <= 2 * (
        V3_BLOBS + 1
    )  # a probe, then one HEAD per blob, per run


def test_an_image_pushed_by_digest_is_tagged_with_one_put(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    assert cli("copy", source, f"{registry2.host}/pinned/app@{V3}").returncode == 0
    mark = registry2.mark()
    result = cli("copy", source, f"{registry2.host}/pinned/app:prod")
    assert result.returncode == 0, result.stderr
    writes = [(e.method, e.path) for e in registry2.requests_since(mark) if e.method in WRITES]
    assert writes == [("PUT", "/v2/pinned/app/manifests/prod")]


def test_a_fresh_repository_is_probed_not_asked_blob_by_blob(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    """Before the first write: the tag, tags/list, the top manifest by digest, the largest blob."""
    source = seed(registry)
    mark = registry2.mark()
    assert cli("copy", source, f"{registry2.host}/fresh/app").returncode == 0
    seen = registry2.requests_since(mark)
    planning = seen[: next(i for i, e in enumerate(seen) if e.method in WRITES)]
    assert [(e.method, e.path.split("/")[-2]) for e in planning] == [
        ("HEAD", "manifests"),
        ("GET", "tags"),
        ("HEAD", "manifests"),
        ("HEAD", "blobs"),
    ]


@pytest.mark.parametrize("jobs", ["1", "4"])
def test_a_read_only_destination_fails_in_one_line_without_warnings(
    registry: RunningRegistry, registry2: RunningRegistry, jobs: str
) -> None:
    source = seed(registry)

    def read_only(request: RequestView) -> Action:
        if request.method in ("POST", "PUT", "PATCH"):
            return quirks.oci_error(405, "UNSUPPORTED", "the registry is read-only")
        return Forward()

    with Proxy(registry2.url, read_only) as proxy:
        result = cli("copy", "--jobs", jobs, source, f"{proxy.host}/ro/app")
    assert result.returncode == 1
    assert "never awaited" not in result.stderr and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("oci-promote: error:")]
    assert errors == [result.stderr.strip().splitlines()[-1]]
    assert "no tag was moved" in errors[0]


def test_a_missing_source_blob_fails_in_one_line_without_warnings(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    layout = tmp_path / "layout"
    build_layout(layout, "v1", ["amd64", "arm64"], 3, 4096)
    index = json.loads((layout / "index.json").read_text())
    top = json.loads((layout / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text())
    child = json.loads((layout / "blobs" / "sha256" / top["manifests"][1]["digest"][7:]).read_text())
    (layout / "blobs" / "sha256" / child["layers"][1]["digest"][7:]).unlink()
    result = cli("copy", "--jobs", "1", f"oci:{layout}:v1", f"{registry.host}/gap/app")
    assert result.returncode == 1
    assert "never awaited" not in result.stderr and "Traceback" not in result.stderr
    assert child["layers"][1]["digest"] in result.stderr.strip().splitlines()[-1]


def _open_sessions(registry: RunningRegistry, repo: str) -> list[str]:
    """Upload sessions the registry still keeps (a cancelled one leaves only its hash state)."""
    uploads = registry.storage / "docker" / "registry" / "v2" / "repositories" / repo / "_uploads"
    return sorted(p.parent.name for p in uploads.glob("*/startedat"))


def _refuse_small_hold_large(request: RequestView) -> Action:
    """The config's upload is refused at once; the layers' uploads are held at the proxy.

    Held, not trickled: distribution refuses to cancel a session that has received part
    of a body (its `_state` offset no longer matches), so only sessions whose bytes have
    not reached it can be cancelled, by any client.
    """
    if request.method == "PUT" and "/blobs/uploads/" in request.path:
        if (request.content_length or 0) < 10_000:
            return quirks.oci_error(403, "DENIED", "not for you")
        return Stall(30)
    return Forward()


def test_a_failure_cancels_the_other_open_upload_sessions(tmp_path: Path, registry2: RunningRegistry) -> None:
    layout = tmp_path / "layout"
    build_layout(layout, "v1", ["amd64"], 2, 1024 * 1024)
    with Proxy(registry2.url, _refuse_small_hold_large) as proxy:
        with pytest.raises(PromoteError) as caught:
            oci_promote.copy(f"oci:{layout}:v1", [f"{proxy.host}/debris/app"], jobs=4, retries=0)
        assert "not for you" in str(caught.value) and "no tag was moved" in str(caught.value)
        opened = [e for e in proxy.exchanges() if e.method == "POST" and e.status == 202]
    assert len(opened) == 3
    assert _open_sessions(registry2, "debris/app") == []


def test_a_cancelled_copy_cancels_its_upload_sessions(tmp_path: Path, registry2: RunningRegistry) -> None:
    """What Ctrl-C does to the copy: its task is cancelled while blobs are on their way."""
    layout = tmp_path / "layout"
    build_layout(layout, "v1", ["amd64"], 2, 1024 * 1024)

    def hold_uploads(request: RequestView) -> Action:
        if request.method == "PUT" and "/blobs/uploads/" in request.path:
            return Stall(30)
        return Forward()

    with Proxy(registry2.url, hold_uploads) as proxy:
        options = oci_promote.copy_options(f"oci:{layout}:v1", [f"{proxy.host}/stop/app"])

        async def interrupted() -> None:
            with anyio.move_on_after(1.5):
                await oci_promote.copy_async(options)
                raise AssertionError("the copy finished before it could be interrupted")

        anyio.run(interrupted)
        opened = [e for e in proxy.exchanges() if e.method == "POST" and e.status == 202]
    assert len(opened) == 3
    assert _open_sessions(registry2, "stop/app") == []
