"""The release workflow (.github/workflows/self-test-release.yml) under nektos/act, host mode.

The file is run as it is, with three changes a runner without GitHub needs: its repository
variables point the release at three loopback registries (source and two destinations)
instead of ghcr.io; every `uses: ./` gets `cache: false` (act has no cache service); and
`actions/upload-artifact` is a local stand-in (act's `--local-repository`) that copies the
file where the test can read it. Nothing is cloned or pulled. The plan job's matrix gives
three shards; act runs them as three matrix jobs at once (`--concurrent-jobs`), each in
its own process, and the commit job waits for all of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit.action_runner import REPO_ROOT, load_action
from testkit.registry import RunningRegistry, start_registry
from tests.action.act import Act, ActRun

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "self-test-release.yml"
ACCEPT = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
UPLOAD_STAND_IN = """\
name: upload-artifact (test stand-in)
description: copies the file into $ARTIFACTS_OUT/NAME
inputs:
  name: {required: true, description: artifact name}
  path: {required: true, description: the file}
runs:
  using: composite
  steps:
    - shell: bash
      env: {NAME: "${{ inputs.name }}", FILE: "${{ inputs.path }}"}
      run: mkdir -p "$ARTIFACTS_OUT/$NAME" && cp "$FILE" "$ARTIFACTS_OUT/$NAME/"
"""
#: act reads every step of a composite action before its `if:`: actions/cache's action.yml
#: must be found locally even though `cache: false` skips it.
CACHE_STAND_IN = """\
name: cache (test stand-in, never run)
description: never run (cache is false)
runs: {using: composite, steps: [{shell: bash, run: exit 1}]}
"""


def _digest(reg: RunningRegistry, repo: str, tag: str) -> str | None:
    with reg.client(headers={"Accept": ACCEPT}) as client:
        answer = client.head(f"/v2/{repo}/manifests/{tag}")
    return answer.headers.get("docker-content-digest") if answer.status_code == 200 else None


def _remote_actions(data: Any) -> set[str]:
    found: set[str] = set()
    for job in data["jobs"].values():
        found |= {s["uses"] for s in job["steps"] if "uses" in s and not s["uses"].startswith("./")}
    return found


def release_workflow() -> dict[str, Any]:
    """The self-test workflow with `cache: false` on every use of the action."""
    assert "cache" in load_action()["inputs"], "action.yml has no `cache` input to turn off"
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    data.pop(True, None)  # YAML 1.1 reads the key `on` as true
    data["on"] = "push"  # act's event; the file's triggers are GitHub's
    for job in data["jobs"].values():
        for step in job["steps"]:
            if step.get("uses") == "./":
                step["with"] = {**step.get("with", {}), "cache": "false"}
    return data


@dataclass
class Registries:
    source: RunningRegistry
    dest1: RunningRegistry
    dest2: RunningRegistry


@pytest.fixture
def registries(tmp_path: Path) -> Iterator[Registries]:
    started = [start_registry(tmp_path / f"registry-{n}") for n in range(3)]
    try:
        yield Registries(*started)
    finally:
        for reg in started:
            reg.stop()


def _act(tmp: Path, regs: Registries, artifacts: Path, *extra: str) -> ActRun:
    data = release_workflow()
    stand_ins: dict[str, Path] = {}
    for uses in _remote_actions(data) | _action_remote_uses():
        if uses.startswith("actions/checkout@"):
            continue  # act copies the local checkout itself
        folder = tmp / "stand-ins" / uses.replace("/", "_").replace("@", "_")
        folder.mkdir(parents=True)
        if uses.startswith("actions/upload-artifact@"):
            (folder / "action.yml").write_text(UPLOAD_STAND_IN)
        for sub in ("restore", "save") if uses.startswith("actions/cache@") else ():
            (folder / sub).mkdir()
            (folder / sub / "action.yml").write_text(CACHE_STAND_IN)
        stand_ins[uses] = folder
    act = Act(tmp, local_repositories=stand_ins)
    args = [
        "--concurrent-jobs", "4",
        "--env", f"ARTIFACTS_OUT={artifacts}",
        "--var", f"RELEASE_SELF_TEST_SOURCE={regs.source.host}/staging",
        "--var", f"RELEASE_SELF_TEST_DEST1={regs.dest1.host}/prod",
        "--var", f"RELEASE_SELF_TEST_DEST2={regs.dest2.host}/prod",
        *extra,
    ]  # fmt: skip
    return act.run(data, args=args, timeout=900)


def _action_remote_uses() -> set[str]:
    """The actions action.yml itself uses (actions/cache restore and save, one repository)."""
    uses = {str(s["uses"]) for s in load_action()["runs"]["steps"] if "uses" in s}
    return {u.split("@")[0].rsplit("/", 1)[0] + "@" + u.split("@")[1] for u in uses}


def test_plan_then_three_stage_jobs_then_commit(tmp_path: Path, registries: Registries) -> None:
    artifacts = tmp_path / "artifacts"
    run = _act(tmp_path, registries, artifacts)
    assert run.returncode == 0, run.log[-6000:]

    plan = run.job("plan").step("plan")
    assert json.loads(plan.outputs["matrix"]) == {"include": [{"shard": f"{k}/3"} for k in (1, 2, 3)]}
    stages = run.jobs("stage")
    assert sorted(j.matrix["shard"] for j in stages if j.matrix) == ["1/3", "2/3", "3/3"]

    commit = run.job("commit")
    assert commit.step("commit").outcome == "success"
    lock = json.loads(commit.step("commit").outputs["lock"])
    assert len(lock["images"]) == 3
    # Every destination tag gives the locked digest, which is the source's.
    for image in lock["images"]:
        name = image["source"].rsplit("/", 1)[1].split(":")[0]
        assert _digest(registries.source, f"staging/{name}", "v1") == image["digest"]
        for d in image["destinations"]:
            host, rest = d["reference"].split("/", 1)
            repo, tag = rest.rsplit(":", 1)
            reg = registries.dest1 if host == registries.dest1.host else registries.dest2
            assert _digest(reg, repo, tag) == image["digest"], d
    # The artifact is the lock file the commit wrote.
    assert json.loads((artifacts / "promoted-lock" / "promoted.lock.json").read_text()) == lock


def test_commit_refuses_and_moves_nothing_when_a_shard_did_not_run(
    tmp_path: Path, registries: Registries
) -> None:
    # Only shard 1/3 runs (act's --matrix filter), as when a stage job was cancelled.
    run = _act(tmp_path, registries, tmp_path / "artifacts", "--matrix", "shard:1/3")
    assert run.returncode != 0
    assert [j.matrix for j in run.jobs("stage")] == [{"shard": "1/3"}]
    commit = run.job("commit")
    assert commit.step("commit").outcome == "failure"
    assert "no tag moved" in run.log.lower()
    for reg in (registries.dest1, registries.dest2):
        for name in ("api", "web", "worker"):
            assert _digest(reg, f"prod/{name}", "1.0.0") is None
