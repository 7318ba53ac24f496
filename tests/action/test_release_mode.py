"""The release modes run as the runner runs action.yml: plan -> stage per shard -> commit -> verify.

The plan travels as the plan step's `plan` output into the other steps' `file` input, as
between the jobs of the README's workflow (tests/action/test_act_release.py runs that
workflow itself under act, with the shards as parallel matrix jobs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testkit.action_runner import ActionRunner
from testkit.registry import RunningRegistry
from testkit.skopeo import copy_oci_to_registry
from tests.action.conftest import FIXTURE

ACCEPT = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"


def _digest(reg: RunningRegistry, repo: str, tag: str) -> str | None:
    with reg.client(headers={"Accept": ACCEPT}) as client:
        answer = client.head(f"/v2/{repo}/manifests/{tag}")
    return answer.headers.get("docker-content-digest") if answer.status_code == 200 else None


@pytest.fixture
def release(
    registry: RunningRegistry, registry2: RunningRegistry, fixtures_dir: Path, tmp_path: Path
) -> Path:
    """Three images at the source; a promotion file sending them to two registries."""
    for repo, tag in (("staging/app", "v1"), ("staging/app", "v2"), ("staging/tool", "a1")):
        copy_oci_to_registry(fixtures_dir / FIXTURE, tag, registry.ref(repo, tag))
    src, dest, dest2 = registry.host, registry2.host, registry.host
    path = tmp_path / "release.yaml"
    path.write_text(
        "version: 1\n"
        "images:\n"
        f"  - source: {src}/staging/app:v1\n"
        f"    to: [{dest}/prod/app:v1, {dest2}/prod/app:v1]\n"
        f"  - source: {src}/staging/app:v2\n"
        f"    to: [{dest}/prod/app:v2]\n"
        f"  - source: {src}/staging/tool:a1\n"
        f"    to: [{dest}/prod/tool:a1]\n"
    )
    return path


def test_plan_stage_each_shard_then_commit_writes_the_lock(
    action: ActionRunner, release: Path, registry: RunningRegistry, registry2: RunningRegistry, tmp_path: Path
) -> None:
    plan = action.run({"mode": "plan", "file": str(release), "shards": "2"})
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert json.loads(plan.outputs["matrix"]) == {"include": [{"shard": "1/2"}, {"shard": "2/2"}]}
    planned = json.loads(plan.outputs["plan"])
    assert [e["source"].rsplit("/", 1)[1] for e in planned["entries"]] == ["app:v1", "app:v2", "tool:a1"]
    assert "### oci-promote: plan" in plan.summary and "| Entry | Source |" in plan.summary
    assert "3 entries" in plan.summary and "2 shard(s)" in plan.summary

    # Shard 1 only: commit must refuse, name the missing shard and move no tag anywhere.
    first = action.run({"mode": "stage", "file": plan.outputs["plan"], "shard": "1/2"})
    assert first.returncode == 0, first.stdout + first.stderr
    assert "No tag moved" in first.summary
    refused = action.run({"mode": "commit", "file": plan.outputs["plan"]})
    assert refused.returncode == 1
    assert refused.annotations("error"), refused.stdout
    assert "commit refused, no tag moved" in refused.summary
    assert refused.outputs["lock"] == ""
    tags = [(registry2, "prod/app", "v1"), (registry2, "prod/app", "v2"), (registry2, "prod/tool", "a1")]
    tags.append((registry, "prod/app", "v1"))
    assert [_digest(reg, repo, tag) for reg, repo, tag in tags] == [None] * 4

    # The plan as a file (what an artifact would carry) works as well as the output itself.
    assert json.loads(Path(plan.outputs["plan-file"]).read_text()) == planned
    second = action.run({"mode": "stage", "file": plan.outputs["plan-file"], "shard": "2/2"})
    assert second.returncode == 0, second.stdout + second.stderr
    lock_path = tmp_path / "out" / "promoted.lock.json"
    lock_path.parent.mkdir()
    commit = action.run({"mode": "commit", "file": plan.outputs["plan"], "lock": str(lock_path)})
    assert commit.returncode == 0, commit.stdout + commit.stderr
    lock = json.loads(commit.outputs["lock"])
    assert lock == json.loads(lock_path.read_text())
    assert lock["version"] == 1 and len(lock["images"]) == 3
    for image, (reg, repo, tag) in zip(lock["images"], tags[:3], strict=True):
        assert (
            _digest(reg, repo, tag)
            == image["digest"]
            == _digest(registry, image["source"].split("/", 1)[1].split(":")[0], tag)
        )
    assert "### oci-promote: committed" in commit.summary and "The lock file" in commit.summary
    assert lock["images"][0]["destinations"][0]["pinned"] in commit.summary

    # The lock is the deploy gate: it passes, then fails once a tag is moved behind its back.
    assert action.run({"mode": "verify", "lock": commit.outputs["lock"]}).returncode == 0
    copy_oci_to_registry(
        Path(__file__).parents[1] / "fixtures" / FIXTURE, "v3", registry2.ref("prod/app", "v1")
    )
    drift = action.run({"mode": "verify", "lock": str(lock_path)})
    assert drift.returncode == 1
    [annotation] = drift.annotations("error")
    assert "prod/app:v1" in annotation.message
    assert "lock verification failed" in drift.summary


def test_apply_in_one_job(action: ActionRunner, release: Path, registry2: RunningRegistry) -> None:
    run = action.run({"mode": "apply", "file": str(release)})
    assert run.returncode == 0, run.stdout + run.stderr
    lock = json.loads(run.outputs["lock"])
    assert _digest(registry2, "prod/tool", "a1") == lock["images"][2]["digest"]
    assert "### oci-promote: plan" in run.summary and "### oci-promote: committed" in run.summary


def test_inputs_are_checked_together_before_any_request(
    action: ActionRunner, registry: RunningRegistry
) -> None:
    mark = registry.mark()
    given = {"source": registry.ref("a/b", "v1"), "shard": "two", "lock": "x.json", "protect-tags": "v*"}
    run = action.run({"mode": "stage", **given})
    assert run.returncode == 2
    problems = {a.properties.get("title", "") for a in run.annotations("error")}
    assert problems == {
        "Invalid input: file",
        "Invalid input: source",
        "Invalid input: shard",
        "Invalid input: lock",
        "Invalid input: protect-tags",
    }
    assert registry.requests_since(mark) == []


def test_a_bad_promotion_file_is_reported_whole(action: ActionRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nimages:\n  - source: 'not a reference!'\n  - to: [r.example/x:1]\n")
    run = action.run({"mode": "plan", "file": str(bad)})
    assert run.returncode == 2
    messages = [a.message for a in run.annotations("error")]
    assert len(messages) >= 2, messages
    assert any("line 3" in m for m in messages) and any("line 4" in m for m in messages), messages
    assert run.outputs["matrix"] == "" and run.outputs["plan"] == ""


def test_plan_problems_fail_the_plan_job_with_one_annotation_each(
    action: ActionRunner, release: Path, registry: RunningRegistry, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    text = release.read_text().replace("staging/tool:a1", "staging/tool:gone")
    broken.write_text(text.replace("staging/app:v2", "staging/nothing:v2"))
    run = action.run({"mode": "plan", "file": str(broken)})
    assert run.returncode == 1, run.stdout + run.stderr
    problems = [a.message for a in run.annotations("error")]
    assert len(problems) == 2, problems
    assert any("tool:gone" in p for p in problems) and any("nothing:v2" in p for p in problems)
    assert "| Problem |" in run.summary
    assert run.outputs["matrix"] == "" and run.outputs["plan"] == ""
