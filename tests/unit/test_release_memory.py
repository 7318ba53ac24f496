"""The release on the in-memory storage: plan -> stage -> commit through `ReleaseOptions.opener`
(what the benchmark's 1,000-entry plan uses), and what it writes where."""

from __future__ import annotations

import anyio
import pytest

from oci_promote.release import (
    ReleaseOptions,
    commit_release,
    parse_promotion,
    plan_release_file,
    stage_shard,
)
from oci_promote.release import plan as plan_module
from oci_promote.storage.memory import MemoryRegistry
from oci_promote.types.reference import Reference
from tests.unit.memory_images import add_index


def _world() -> tuple[dict[str, MemoryRegistry], ReleaseOptions]:
    registries = {name: MemoryRegistry(name) for name in ("src.example", "prod.example")}

    def opener(ref: Reference):  # type: ignore[no-untyped-def]
        return registries[ref.registry].storage(ref.repository)

    return registries, ReleaseOptions(opener=opener)


def test_plan_stage_commit_on_memory_storages() -> None:
    registries, options = _world()
    src, prod = registries["src.example"], registries["prod.example"]
    digests = [add_index(src, f"staging/app{n}", "1.0", layers=2 + n) for n in range(20)]
    assert len(set(digests)) == 20
    text = "version: 1\ndefaults: {to-registry: prod.example, strip-prefix: staging/}\nimages:\n" + "".join(
        f"  - source: src.example/staging/app{n}:1.0\n" for n in range(20)
    )
    promotion = parse_promotion(text)
    plan = anyio.run(lambda: plan_release_file(promotion, options, shards=4))
    assert plan.problems == [] and plan.shards == 4 and len(plan.entries) == 20
    assert prod.writes() == []  # plan writes nothing
    for k in range(1, 5):
        anyio.run(stage_shard, plan, k, options)
    assert all(not repo.tags for repo in prod.repositories.values())  # stage moves no tag
    result = anyio.run(lambda: commit_release(plan, options))
    assert len(result.moved) == 20
    assert [prod.repositories[f"app{n}"].tags["1.0"] for n in range(20)] == digests


def test_plan_finds_two_entries_giving_one_tag_two_digests_and_a_protected_move() -> None:
    registries, options = _world()
    src, prod = registries["src.example"], registries["prod.example"]
    add_index(src, "staging/a", "1.0")
    add_index(src, "staging/b", "1.0", layers=3)
    old = add_index(prod, "live/x", "v1", platforms=("amd64",))
    text = (
        "version: 1\nimages:\n"
        "  - source: src.example/staging/a:1.0\n    to: [prod.example/live/x:latest]\n"
        "  - source: src.example/staging/b:1.0\n    to: [prod.example/live/x:latest]\n"
        "  - source: src.example/staging/a:1.0\n    to: [prod.example/live/x:v1]\n    protect: ['v*']\n"
    )
    plan = anyio.run(lambda: plan_release_file(parse_promotion(text), options))
    assert len(plan.problems) == 2, plan.problems
    assert "prod.example/live/x:latest is also written by images[0]" in plan.problems[1]
    assert f"tag v1 is protected and holds {old}" in plan.problems[0]
    assert prod.writes() == []


def test_tag_filters_page_through_the_source_tags_and_expected_digests_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(plan_module, "TAGS_PAGE", 2)  # several pages of tags
    registries, options = _world()
    src = registries["src.example"]
    for n, tag in enumerate(["v1.0.0", "v1.1.0", "v1.2.0-rc1", "latest", "v2.0.0"]):
        add_index(src, "staging/tools", tag, layers=2 + n)
    web = add_index(src, "staging/web", "1.0")
    text = (
        "version: 1\ndefaults: {to-registry: prod.example}\nimages:\n"
        "  - source: src.example/staging/tools\n    tags: {allow: ['^v'], deny: ['-rc']}\n"
        f"  - source: src.example/staging/web:1.0\n    expected-digest: sha256:{'0' * 64}\n"
    )
    plan = anyio.run(lambda: plan_release_file(parse_promotion(text), options))
    assert [e.source for e in plan.entries] == [
        f"src.example/staging/tools:{t}" for t in ("v1.0.0", "v1.1.0", "v2.0.0")
    ]
    assert [d.reference for e in plan.entries for d in e.destinations] == [
        f"prod.example/staging/tools:{t}" for t in ("v1.0.0", "v1.1.0", "v2.0.0")
    ]
    assert plan.problems == [
        f"images[1] src.example/staging/web:1.0: is {web}, but expected-digest is sha256:{'0' * 64}"
    ]


def test_a_destination_pinned_by_digest_is_staged_and_locked_without_a_tag() -> None:
    registries, options = _world()
    src, prod = registries["src.example"], registries["prod.example"]
    digest = add_index(src, "staging/a", "1.0")
    text = (
        f"version: 1\nimages:\n  - source: src.example/staging/a@{digest}\n"
        f"    to: [prod.example/x@{digest}]\n"
    )
    plan = anyio.run(lambda: plan_release_file(parse_promotion(text), options))
    assert plan.problems == []
    anyio.run(stage_shard, plan, 1, options)
    result = anyio.run(lambda: commit_release(plan, options))
    assert result.moved == [] and prod.repositories["x"].tags == {}
    assert digest in prod.repositories["x"].manifests
    (image,) = result.lock.images
    assert [(d.reference, d.pinned) for d in image.destinations] == [
        ("prod.example/x", f"prod.example/x@{digest}")
    ]
