"""Every pinned tool version is written once: the Go tools in scripts/go-tools.txt (read by
scripts/setup.sh, the tests and the bench), actions/cache in action.yml (read by the tests)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from testkit.versions import GO_TOOLS_FILE, ROOT, action_commit, go_binary, go_tools

SETUP_SH = ROOT / "scripts" / "setup.sh"


def _files_that_could_pin() -> list[Path]:
    """Scripts, harness, bench, tests and workflows (the vendored fixtures aside)."""
    found = [SETUP_SH, *ROOT.glob(".github/workflows/*.yml")]
    for folder in ("scripts", "testkit", "bench", "tests"):
        found += [p for p in (ROOT / folder).rglob("*.py") if "fixtures" not in p.relative_to(ROOT).parts]
    return found


def test_setup_sh_reads_the_same_tools_as_python() -> None:
    """The loop setup.sh runs over go-tools.txt, run by bash, against testkit's reading of it."""
    text = SETUP_SH.read_text()
    loop = text[text.index("GO_PEERS=()") : text.index("done <scripts/go-tools.txt")]
    script = f'{loop}done <scripts/go-tools.txt\nprintf "%s\\n" "${{GO_PEERS[@]}}" "${{GO_IN_PLACE[@]}}"\n'
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    from_bash = proc.stdout.splitlines()
    from_python = [t.spec + (f" {t.in_place}" if t.in_place else "") for t in go_tools().values()]
    assert sorted(from_bash) == sorted(from_python)
    assert {"crane", "regctl", "oras", "cosign", "olareg", "act", "regsync"} <= set(go_tools())


def test_no_go_tool_version_is_written_anywhere_else() -> None:
    pins = {t.spec.rpartition("@")[0] + "@": t.spec for t in go_tools().values()}
    written = [
        f"{path.relative_to(ROOT)}: {pin}"
        for path in _files_that_could_pin()
        for prefix, pin in pins.items()
        if prefix in path.read_text()
    ]
    assert written == [], f"pin these in {GO_TOOLS_FILE.relative_to(ROOT)} only"
    version_constants = [
        f"{path.relative_to(ROOT)}: {m.group(0)}"
        for path in _files_that_could_pin()
        for m in re.finditer(r'\w*VERSION\w*\s*=\s*"v?\d+\.\d+\.\d+"', path.read_text())
    ]
    assert version_constants == []


def test_actions_cache_is_pinned_once_in_action_yml() -> None:
    """GitHub reads a `uses:` pin only from action.yml; tests ask testkit.versions for it."""
    commit = action_commit("actions/cache")  # restore and save agree, or this raises
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    code = [p for p in _files_that_could_pin() if p.suffix == ".py"]
    assert [str(p.relative_to(ROOT)) for p in code if commit in p.read_text()] == []


def test_workflows_use_each_action_at_the_commit_action_yml_does() -> None:
    """Workflows must write their `uses:` pins out too; they may not drift from one another."""
    commits: dict[str, set[str]] = {}
    for path in [ROOT / "action.yml", *ROOT.glob(".github/workflows/*.yml")]:
        for repo, commit in re.findall(r"uses:\s*([\w.-]+/[\w.-]+)[\w/.-]*@([0-9a-f]{40})", path.read_text()):
            commits.setdefault(repo, set()).add(commit)
    assert "actions/cache" in commits
    assert {repo: pins for repo, pins in commits.items() if len(pins) > 1} == {}


@pytest.mark.peers
def test_every_go_tool_is_built_at_its_pin() -> None:
    for name in go_tools():
        assert go_binary(name).is_file()
