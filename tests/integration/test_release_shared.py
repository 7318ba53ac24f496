"""Work a release shares across its entries, throttling, and `apply`'s all-or-nothing, counted
at real registries (their access logs)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from testkit import quirks
from testkit.proxy import Action, Forward, Proxy, RequestView
from testkit.registry import AccessEntry, RunningRegistry
from tests.integration.test_cli import V3, cli, seed
from tests.integration.test_release_cli import list_tags

#: regclient-testrepo's v3: 9 distinct blobs.
V3_BLOBS = 9


def _blob_gets(entries: list[AccessEntry]) -> list[str]:
    return [e.path for e in entries if e.method == "GET" and "/blobs/sha256:" in e.path]


def _uploads(entries: list[AccessEntry], repo: str) -> list[AccessEntry]:
    """Completed uploads (the closing PUT of a session) into `repo`."""
    return [e for e in entries if e.method == "PUT" and e.path.startswith(f"/v2/{repo}/blobs/uploads/")]


def _mounts(entries: list[AccessEntry], repo: str) -> list[AccessEntry]:
    return [
        e
        for e in entries
        if e.method == "POST"
        and e.path == f"/v2/{repo}/blobs/uploads/"
        and "mount" in e.query
        and e.status == 201
    ]


def test_a_blob_shared_by_entries_is_read_once_uploaded_once_per_repository_and_mounted(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry, registry_factory: object
) -> None:
    src, a = registry, registry2
    b = registry_factory()  # type: ignore[operator]
    one, two = seed(src, "staging/one", "v3"), seed(src, "staging/two", "v3")  # the same blobs
    file = tmp_path / "p.yaml"
    file.write_text(
        f"version: 1\nimages:\n"
        f"  - source: {one}\n    to: [{a.host}/acme/one, {b.host}/acme/one]\n"
        f"  - source: {two}\n    to: [{a.host}/acme/two]\n"
    )
    marks = (src.mark(), a.mark(), b.mark())
    applied = cli("apply", str(file), "--lock", str(tmp_path / "lock.json"))
    assert applied.returncode == 0, applied.stderr
    at_src, at_a, at_b = (r.requests_since(m) for r, m in zip((src, a, b), marks, strict=True))
    gets = _blob_gets(at_src)
    assert len({g.rsplit("/", 1)[1] for g in gets}) == V3_BLOBS
    assert len(gets) == V3_BLOBS  # each blob read from the source once for the whole release
    # registry a: uploaded into one repository, mounted into the other, never twice
    uploaded = _uploads(at_a, "acme/one") + _uploads(at_a, "acme/two")
    mounted = _mounts(at_a, "acme/one") + _mounts(at_a, "acme/two")
    assert len(uploaded) == V3_BLOBS and len(mounted) == V3_BLOBS
    assert len(_uploads(at_b, "acme/one")) == V3_BLOBS
    for registry_ in (a, b):
        assert cli("digest", f"{registry_.host}/acme/one:v3").stdout.strip() == V3
    assert cli("digest", f"{a.host}/acme/two:v3").stdout.strip() == V3


def test_throttling_is_waited_for_and_reported(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry, "staging/api", "v3")
    with Proxy(registry2.url, quirks.dockerhub(0.3, retry_after="0"), seed=7) as hub:
        file = tmp_path / "p.yaml"
        file.write_text(f"version: 1\nimages:\n  - source: {source}\n    to: [{hub.host}/acme/api]\n")
        applied = cli("apply", str(file), "--retries", "10")
    assert applied.returncode == 0, applied.stderr
    assert f"throttled: {hub.host} asked to wait" in applied.stderr
    assert cli("digest", f"{registry2.host}/acme/api:v3").stdout.strip() == V3


def test_apply_moves_no_tag_anywhere_unless_every_entry_is_staged_everywhere(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry, registry_factory: object
) -> None:
    b = registry_factory()  # type: ignore[operator]
    source = seed(registry, "staging/api", "v3")

    def refuse_indexes(request: RequestView) -> Action:
        if request.method == "PUT" and "/manifests/" in request.path:
            return quirks.oci_error(500, "UNKNOWN", "storage backend failed")
        return Forward()

    with Proxy(b.url, refuse_indexes) as broken:
        file = tmp_path / "p.yaml"
        file.write_text(
            f"version: 1\nimages:\n  - source: {source}\n    to: [{registry2.host}/acme/api]\n"
            f"  - source: {source}\n    to: [{broken.host}/acme/api]\n"
        )
        applied = cli("apply", str(file), "--retries", "0", "--lock", str(tmp_path / "lock.json"))
    assert applied.returncode == 1
    assert "no tag was moved" in applied.stderr
    assert list_tags(registry2, "acme/api") == [] and list_tags(b, "acme/api") == []
    assert not (tmp_path / "lock.json").exists()


def test_one_credential_lookup_per_registry_for_the_whole_release(
    tmp_path: Path, registry: RunningRegistry, basic_registry: RunningRegistry
) -> None:
    """Three entries to one registry behind a Docker credential helper: the helper runs once."""
    source = seed(registry, "staging/api", "v3")
    calls = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-count"
    answer = json.dumps(
        {"ServerURL": "x", "Username": basic_registry.username, "Secret": basic_registry.password}
    )
    helper.write_text(f"#!/bin/sh\ncat > /dev/null\necho get >> '{calls}'\ncat <<'EOF'\n{answer}\nEOF\n")
    helper.chmod(0o755)
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"credHelpers": {basic_registry.host: "count"}}))
    file = tmp_path / "p.yaml"
    file.write_text(
        "version: 1\nimages:\n"
        + "".join(
            f"  - source: {source}\n    to: [{basic_registry.host}/acme/{n}]\n" for n in ("a", "b", "c")
        )
    )
    env = {"DOCKER_CONFIG": str(config), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    applied = cli("apply", str(file), env=env)
    assert applied.returncode == 0, applied.stderr
    assert calls.read_text().splitlines() == ["get"]


def test_an_ecr_like_destination_with_immutable_tags_takes_a_release_twice(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    """ECR sends no Docker-Content-Digest and refuses any PUT to an existing immutable tag, even
    of the same digest: a second apply must not PUT the tag again."""
    source = seed(registry, "staging/api", "v3")
    tagged: set[str] = set()

    def immutable(request: RequestView) -> Action:
        if request.method == "PUT" and "/manifests/" in request.path and "sha256:" not in request.path:
            if request.path in tagged:
                return quirks.oci_error(400, "TAG_INVALID", "The image tag already exists and is immutable")
            tagged.add(request.path)
        return Forward()

    with Proxy(registry2.url, quirks.chain(quirks.ecr(), immutable)) as ecr:
        file = tmp_path / "p.yaml"
        file.write_text(f"version: 1\nimages:\n  - source: {source}\n    to: [{ecr.host}/acme/api]\n")
        first = cli("apply", str(file), "--lock", str(tmp_path / "one.json"))
        assert first.returncode == 0, first.stderr
        again = cli("apply", str(file), "--lock", str(tmp_path / "two.json"))
        assert again.returncode == 0, again.stderr
    assert "0 tag(s) moved, 1 already held their digest" in again.stderr
    assert tagged == {"/v2/acme/api/manifests/v3"}


def test_entries_of_one_image_write_its_referrers_to_a_repository_once(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    """Two tags of one signed image (two entries, one digest, one destination repository): its
    referrers are PUT there once, not once per entry."""
    from tests.integration.test_cli import TESTREPO

    src, dst = registry, registry2
    copied = cli("copy", f"oci:{TESTREPO}:v3", f"{src.host}/staging/api:v3", f"{src.host}/staging/api:v3.1")
    assert copied.returncode == 0, copied.stderr  # with the fixture's two SBOMs (referrers)
    file = tmp_path / "p.yaml"
    file.write_text(
        f"version: 1\nimages:\n"
        f"  - source: {src.host}/staging/api:v3\n    to: [{dst.host}/acme/api:v3]\n"
        f"  - source: {src.host}/staging/api:v3.1\n    to: [{dst.host}/acme/api:v3.1]\n"
    )
    mark = dst.mark()
    applied = cli("apply", str(file), "--lock", str(tmp_path / "lock.json"))
    assert applied.returncode == 0, applied.stderr
    puts = [e.path for e in dst.requests_since(mark) if e.method == "PUT" and "/manifests/" in e.path]
    index = json.loads((TESTREPO / "index.json").read_text())
    sboms = {m["digest"] for m in index["manifests"] if "annotations" not in m}  # the untagged two
    schema_tag = "sha256-" + V3.split(":")[1]  # their tag schema index
    referrer_puts = [p for p in puts if p.rsplit("/", 1)[1] in sboms | {schema_tag}]
    assert sorted(referrer_puts) == sorted({*referrer_puts}) and len(referrer_puts) == 3, referrer_puts
    tags = {p.rsplit("/", 1)[1] for p in puts}
    assert {"v3", "v3.1"} <= tags
