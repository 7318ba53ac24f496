"""A whole release through the CLI against real registries: plan -> stage shards -> commit -> lock.

Two destination registries, a tag-filter entry, a multi-arch index, shards staged by parallel
processes; and the refusals: a shard that did not run, a protected tag moved between plan and
commit, a destination that refuses writes, a bad file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import quirks
from tests.harness.proxy import Action, Forward, Proxy, RequestView
from tests.harness.registry import AccessEntry, RunningRegistry
from tests.harness.signing import PushedImage, SigningWorld, push_image
from tests.integration.test_cli import cli

WRITES = ("PUT", "POST", "PATCH", "DELETE")


def _env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_PROMOTE_", "DOCKER_"))}
    base["DOCKER_CONFIG"] = "/nonexistent-docker-config"
    return base


def _release(src: RunningRegistry) -> dict[str, PushedImage]:
    return {
        "api": push_image(src, "staging/api", "1.4.2"),
        "web": push_image(src, "staging/web", "1.4.2", ("amd64", "arm64")),
        "v1": push_image(src, "staging/tools", "v1.0.0"),
        "v2": push_image(src, "staging/tools", "v1.1.0"),
        "rc": push_image(src, "staging/tools", "v1.2.0-rc1"),
    }


def _file(
    tmp_path: Path, src: RunningRegistry, a: RunningRegistry, b: RunningRegistry, extra: str = ""
) -> Path:
    path = tmp_path / "promote.yaml"
    path.write_text(
        f"""version: 1
defaults:
  protect: ["v*"]
  to-registry: {a.host}
  strip-prefix: staging/
  add-prefix: acme/
images:
  - source: {src.host}/staging/api:1.4.2
    to: [{a.host}/acme/api:1.4.2, {a.host}/acme/api:1.4, {b.host}/acme/api:1.4.2]
  - source: {src.host}/staging/web:1.4.2
    to: [{a.host}/acme/web, {b.host}/acme/web]
  - source: {src.host}/staging/tools
    tags: {{allow: ['^v\\d+\\.\\d+\\.\\d+'], deny: ['-rc']}}
{extra}"""
    )
    return path


def list_tags(registry: RunningRegistry, repo: str) -> list[str]:
    """The repository's tags; none when the registry does not know it (no tag yet)."""
    with registry.client() as client:
        response = client.get(f"/v2/{repo}/tags/list")
    return [] if response.status_code == 404 else sorted(response.json().get("tags") or [])


def _tag_puts(entries: list[AccessEntry]) -> list[str]:
    return [
        e.path for e in entries if e.method == "PUT" and "/manifests/" in e.path and "sha256:" not in e.path
    ]


def test_plan_stage_two_shards_in_parallel_commit_and_lock(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry, registry_factory: object
) -> None:
    src, a = registry, registry2
    b = registry_factory()  # type: ignore[operator]
    images = _release(src)
    file = _file(tmp_path, src, a, b)
    marks = (a.mark(), b.mark())
    planned = cli("plan", str(file), "-o", str(tmp_path / "plan.json"), "--shards", "2")
    assert planned.returncode == 0, planned.stderr
    assert "4 entries" in planned.stdout and "0 problem(s), 2 shard(s)" in planned.stdout
    for dest, mark in zip((a, b), marks, strict=True):
        writes = [e for e in dest.requests_since(mark) if e.method in WRITES]
        # the write probe: each upload session opened is deleted again; nothing else written
        assert {e.method for e in writes} == {"POST", "DELETE"}
        assert sum(e.method == "POST" for e in writes) == sum(e.method == "DELETE" for e in writes)
    matrix = cli("plan", str(file), "--shards", "2", "--matrix")
    assert json.loads(matrix.stdout) == {"include": [{"shard": "1/2"}, {"shard": "2/2"}]}

    plan = json.loads((tmp_path / "plan.json").read_text())
    assert sorted(e["source"].rsplit("/", 1)[1] for e in plan["entries"]) == [
        "api:1.4.2",
        "tools:v1.0.0",
        "tools:v1.1.0",
        "web:1.4.2",
    ]
    # the two entries writing to acme/tools share a shard
    tools = {e["shard"] for e in plan["entries"] if "tools" in e["source"]}
    assert len(tools) == 1

    marks = (a.mark(), b.mark())
    shards = [
        subprocess.Popen(
            [sys.executable, "-m", "oci_promote", "stage", str(tmp_path / "plan.json"), "--shard", f"{k}/2"],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in (1, 2)
    ]
    for p in shards:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    for dest, mark in zip((a, b), marks, strict=True):
        assert _tag_puts(dest.requests_since(mark)) == []  # stage moves no tag
    assert list_tags(a, "acme/api") == []

    marks = (a.mark(), b.mark())
    again = cli("stage", str(tmp_path / "plan.json"), "--shard", "1/2")
    assert again.returncode == 0, again.stderr
    for dest, mark in zip((a, b), marks, strict=True):
        assert [e for e in dest.requests_since(mark) if e.method in WRITES] == []  # nothing new sent

    committed = cli("commit", str(tmp_path / "plan.json"), "--lock", str(tmp_path / "lock.json"))
    assert committed.returncode == 0, committed.stderr
    assert list_tags(a, "acme/api") == ["1.4", "1.4.2"]
    assert list_tags(b, "acme/web") == ["1.4.2"]
    assert list_tags(a, "acme/tools") == ["v1.0.0", "v1.1.0"]
    lock = json.loads((tmp_path / "lock.json").read_text())
    assert lock["version"] == 1
    by_source = {i["source"].rsplit("/", 1)[1]: i for i in lock["images"]}
    assert by_source["web:1.4.2"]["digest"] == images["web"].digest
    assert [d["pinned"] for d in by_source["web:1.4.2"]["destinations"]] == [
        f"{a.host}/acme/web@{images['web'].digest}",
        f"{b.host}/acme/web@{images['web'].digest}",
    ]
    for i in lock["images"]:
        for d in i["destinations"]:
            assert cli("digest", d["reference"]).stdout.strip() == i["digest"]

    # a second commit moves nothing: no tag PUT where the tag already holds the digest (ECR)
    marks = (a.mark(), b.mark())
    assert cli("commit", str(tmp_path / "plan.json")).returncode == 0
    assert all(_tag_puts(d.requests_since(m)) == [] for d, m in zip((a, b), marks, strict=True))

    verified = cli("verify", "--lock", str(tmp_path / "lock.json"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # someone moves a tag after the promotion: verify --lock finds it and names causes
    other = push_image(a, "acme/api", "1.4")
    moved = cli("verify", "--lock", str(tmp_path / "lock.json"))
    assert moved.returncode == 1
    assert f"{a.host}/acme/api:1.4: is {other.digest}, not {images['api'].digest}" in moved.stdout
    assert "layers-differ" in moved.stdout or "config-differ" in moved.stdout


def test_commit_refuses_when_a_shard_did_not_run_and_moves_no_tag(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry, registry_factory: object
) -> None:
    src, a = registry, registry2
    b = registry_factory()  # type: ignore[operator]
    _release(src)
    file = _file(tmp_path, src, a, b)
    assert cli("plan", str(file), "-o", str(tmp_path / "plan.json"), "--shards", "2").returncode == 0
    assert cli("stage", str(tmp_path / "plan.json"), "--shard", "1/2").returncode == 0
    marks = (a.mark(), b.mark())
    refused = cli("commit", str(tmp_path / "plan.json"), "--lock", str(tmp_path / "lock.json"))
    assert refused.returncode == 1
    assert "refusing to commit" in refused.stderr and "shard 2/2" in refused.stderr
    assert "no tag was moved" in refused.stderr
    assert all(_tag_puts(d.requests_since(m)) == [] for d, m in zip((a, b), marks, strict=True))
    assert not (tmp_path / "lock.json").exists()


def test_a_source_tag_moved_after_plan_does_not_change_what_is_staged(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    planned_image = push_image(registry, "staging/api", "1.0")
    file = tmp_path / "p.yaml"
    file.write_text(
        f"version: 1\nimages:\n  - source: {registry.host}/staging/api:1.0\n"
        f"    to: [{registry2.host}/acme/api]\n"
    )
    assert cli("plan", str(file), "-o", str(tmp_path / "plan.json")).returncode == 0
    later = push_image(registry, "staging/api", "1.0")  # the source tag moves
    assert later.digest != planned_image.digest
    assert cli("stage", str(tmp_path / "plan.json")).returncode == 0
    assert cli("commit", str(tmp_path / "plan.json"), "--lock", str(tmp_path / "l.json")).returncode == 0
    assert cli("digest", f"{registry2.host}/acme/api:1.0").stdout.strip() == planned_image.digest


def test_a_protected_tag_moved_between_plan_and_commit_is_refused(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    push_image(registry, "staging/api", "v1")
    file = tmp_path / "p.yaml"
    file.write_text(
        f"version: 1\ndefaults: {{protect: ['v*']}}\nimages:\n"
        f"  - source: {registry.host}/staging/api:v1\n    to: [{registry2.host}/acme/api]\n"
    )
    assert cli("plan", str(file), "-o", str(tmp_path / "plan.json")).returncode == 0
    assert cli("stage", str(tmp_path / "plan.json")).returncode == 0
    intruder = push_image(registry2, "acme/api", "v1")  # someone takes the tag meanwhile
    refused = cli("commit", str(tmp_path / "plan.json"))
    assert refused.returncode == 1
    assert "tag v1 is protected" in refused.stderr and "no tag was moved" in refused.stderr
    assert cli("digest", f"{registry2.host}/acme/api:v1").stdout.strip() == intruder.digest


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (403, "DENIED"),  # a read-only mirror, a user without push rights
        (404, "NAME_UNKNOWN"),  # ECR: a repository nobody created
    ],
)
def test_plan_finds_a_destination_repository_that_refuses_writes(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry, status: int, code: str
) -> None:
    push_image(registry, "staging/api", "1.0")

    def read_only(request: RequestView) -> Action:
        if request.method in ("POST", "PUT", "PATCH") and "/acme/frozen/" in request.path:
            return quirks.oci_error(status, code, "the repository does not take this write")
        return Forward()

    with Proxy(registry2.url, read_only) as proxy:
        file = tmp_path / "p.yaml"
        file.write_text(
            f"version: 1\nimages:\n  - source: {registry.host}/staging/api:1.0\n"
            f"    to: [{proxy.host}/acme/frozen, {proxy.host}/acme/open]\n"
        )
        mark = registry2.mark()
        planned = cli("plan", str(file), "-o", str(tmp_path / "plan.json"))
    assert planned.returncode == 1
    assert f"destination {proxy.host}/acme/frozen refuses writes" in planned.stderr
    assert "acme/open refuses" not in planned.stderr
    assert not (tmp_path / "plan.json").exists()
    writes = [e for e in registry2.requests_since(mark) if e.method in WRITES]
    assert {e.method for e in writes} <= {"POST", "DELETE"}  # only the open repository's probe
    assert sum(e.method == "POST" for e in writes) == sum(e.method == "DELETE" for e in writes)


def test_a_bad_file_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(
        "version: 1\n"  # 1
        "defaults:\n"  # 2
        "  protect: v*\n"  # 3: not a list
        "images:\n"  # 4
        "  - source: staging.example.com/api:1.0\n"  # 5
        "    to: [prod.example.com/Acme/api]\n"  # 6: uppercase repository
        "  - source: staging.example.com/web:1.0\n"  # 7
        "    expected-digest: sha256:1234\n"  # 8: too short
        "    to: [prod.example.com/web]\n"  # 9
        "    colour: blue\n"  # 10: unknown key
        "  - source: staging.example.com/tools\n"  # 11: no tag, no filter, no destination
    )
    result = cli("plan", str(file))
    assert result.returncode == 2
    err = result.stderr
    assert "5 problems" in err
    for line, field in [(3, "defaults.protect"), (6, "images[0].to[0]"), (8, "images[1].expected-digest")]:
        assert f"bad.yaml:{line}: {field}:" in err, err
    assert "bad.yaml:10: images[1].colour: unknown key" in err
    assert "bad.yaml:11: images[2]:" in err


def test_apply_is_plan_stage_commit_in_one_process_and_export(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    api = push_image(registry, "staging/api", "1.0")
    file = tmp_path / "p.yaml"
    file.write_text(
        f"version: 1\ndefaults: {{to-registry: {registry2.host}, "
        "strip-prefix: staging/, add-prefix: acme/}\n"
        f"images:\n  - source: {registry.host}/staging/api:1.0\n"
    )
    lock = tmp_path / "lock.json"
    applied = cli("apply", str(file), "--lock", str(lock))
    assert applied.returncode == 0, applied.stderr
    assert cli("digest", f"{registry2.host}/acme/api:1.0").stdout.strip() == api.digest
    env = cli("export", str(lock), "--format", "env").stdout
    assert env == f"API={registry2.host}/acme/api@{api.digest}\n"
    kustomize = cli("export", str(lock), "--format", "kustomize").stdout
    assert f"newName: {registry2.host}/acme/api" in kustomize and f"digest: {api.digest}" in kustomize
    helm = cli("export", str(lock), "--format", "helm").stdout
    assert "api:" in helm and "tag: '1.0'" in helm

    # the lock is the next hop's promotion file
    hop = cli(
        "apply", str(lock), "--to-registry", registry.host, "--strip-prefix", "acme/", "--add-prefix", "eu/"
    )
    assert hop.returncode == 0, hop.stderr
    assert cli("digest", f"{registry.host}/eu/api:1.0").stdout.strip() == api.digest


def test_signed_images_keep_their_signatures_and_the_lock_lists_them(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry, world: SigningWorld
) -> None:
    keys = world.key_pair()
    web = push_image(registry, "staging/web", "2.0", ("amd64", "arm64"))
    world.cosign_sign(web.ref, keys)
    file = tmp_path / "p.yaml"
    file.write_text(
        f"version: 1\ndefaults: {{require-referrers: []}}\nimages:\n"
        f"  - source: {registry.host}/staging/web:2.0\n    to: [{registry2.host}/acme/web]\n"
    )
    lock = tmp_path / "lock.json"
    applied = cli("apply", str(file), "--lock", str(lock))
    assert applied.returncode == 0, applied.stderr
    world.cosign_verify(f"{registry2.host}/acme/web@{web.digest}", keys)
    (image,) = json.loads(lock.read_text())["images"]
    assert image["digest"] == web.digest and len(image["referrers"]) == 1
    # run again: the image and its signature are there, so only the write probe reaches the registry
    mark = registry2.mark()
    assert cli("apply", str(file)).returncode == 0
    writes = [e for e in registry2.requests_since(mark) if e.method in WRITES]
    assert sorted({e.method for e in writes}) == ["DELETE", "POST"] and len(writes) == 2


def test_plan_finds_a_user_without_push_rights(
    tmp_path: Path, registry: RunningRegistry, registry_factory: object
) -> None:
    """A token registry granting this user `pull` only: the write probe is refused, nothing is left."""
    push_image(registry, "staging/api", "1.0")
    dest = registry_factory(auth="token")  # type: ignore[operator]
    assert dest.token_server is not None
    dest.token_server.allowed_actions = {dest.username: frozenset({"pull"})}
    file = tmp_path / "p.yaml"
    file.write_text(
        f"version: 1\nimages:\n  - source: {registry.host}/staging/api:1.0\n    to: [{dest.host}/acme/api]\n"
    )
    mark = dest.mark()
    planned = cli("plan", str(file), "--dest-creds", f"{dest.username}:{dest.password}")
    assert planned.returncode == 1, planned.stderr
    assert f"destination {dest.host}/acme/api refuses writes" in planned.stderr
    assert [e for e in dest.requests_since(mark) if e.method in WRITES and e.status < 400] == []
