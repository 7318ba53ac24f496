"""action.yml and the workflows: valid against GitHub's schemas, clean under zizmor, valid bash;
workflows that use the Action pass actionlint.

The tools come from the test extra (`pip install -e '.[test]'`) and run offline: the
schemas are vendored in check-jsonschema, and zizmor's --offline skips the audits that
query GitHub. actionlint is built by scripts/setup.sh into .tools/bin. A missing tool fails
the test: CI must not pass by not checking.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testkit.action_runner import REPO_ROOT
from testkit.versions import go_binary

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
ACTION = REPO_ROOT / "action.yml"


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'", pytrace=False)
    return found


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_there_are_ci_and_self_test_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "self-test.yml"}


@pytest.mark.integration  # runs check-jsonschema
@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(workflow: Path) -> None:
    proc = _run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(workflow)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.integration  # runs check-jsonschema
def test_action_matches_githubs_schema() -> None:
    proc = _run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.integration  # runs zizmor
def test_zizmor_finds_nothing() -> None:
    proc = _run([_tool("zizmor"), "--offline", "--no-progress", "--format", "plain", "."])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _run_scripts() -> list[tuple[str, str]]:
    scripts = []
    for path in [ACTION, *WORKFLOWS]:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if path == ACTION:
            steps = data["runs"]["steps"]
        else:
            steps = [step for job in data["jobs"].values() for step in job["steps"]]
        for i, step in enumerate(steps):
            if "run" in step:
                scripts.append((f"{path.name}:{step.get('name', i)}", step["run"]))
    return scripts


@pytest.mark.parametrize(("where", "script"), _run_scripts(), ids=lambda v: v if ":" in v else "")
def test_run_scripts_are_valid_bash(where: str, script: str) -> None:
    # Expressions are replaced by a word, as the runner would by their value.
    text = re.sub(r"\$\{\{.*?\}\}", "EXPR", script)
    proc = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{where}: {proc.stderr}"


@pytest.mark.peers  # actionlint, built by scripts/setup.sh
def test_actionlint_takes_a_verify_step_without_source(tmp_path: Path) -> None:
    """actionlint checks a local action's required inputs: verify mode needs no source."""
    project = tmp_path / "project"
    (project / ".github" / "workflows").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True)  # actionlint's project root
    shutil.copy(ACTION, project / "action.yml")
    digest = "sha256:" + "0" * 64
    verify = {
        "uses": "./",
        "with": {"mode": "verify", "destinations": "r.example/a:1", "expected-digest": digest},
    }
    steps = [{"uses": "actions/checkout@v4"}, verify]
    workflow = project / ".github" / "workflows" / "gate.yml"
    actionlint = str(go_binary("actionlint"))
    argv = [actionlint, "-no-color", "-oneline", "-shellcheck=", "-pyflakes=", str(workflow)]

    workflow.write_text(
        yaml.safe_dump({"on": "push", "jobs": {"gate": {"runs-on": "ubuntu-latest", "steps": steps}}})
    )
    proc = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # The check is live: an input action.yml does not declare is refused. (No input is
    # required any more: the release modes take neither `source` nor `destinations`.)
    verify["with"]["destination"] = "r.example/a:1"
    workflow.write_text(
        yaml.safe_dump({"on": "push", "jobs": {"gate": {"runs-on": "ubuntu-latest", "steps": steps}}})
    )
    proc = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and 'input "destination" is not defined' in proc.stdout, (
        proc.stdout + proc.stderr
    )
