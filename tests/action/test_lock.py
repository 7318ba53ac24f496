"""requirements/action.txt: every file hash-pinned, and every dependency the action needs there.

The lock is universal (markers for Python 3.10 and up), so the checks evaluate it for
each supported Python, as pip on the runner will.
"""

from __future__ import annotations

import re

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.action.runner import REPO_ROOT, load_action

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

LOCK = REPO_ROOT / "requirements" / "action.txt"
PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]


def _entries() -> list[tuple[Requirement, list[str]]]:
    """(requirement, hashes) per locked line; continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", LOCK.read_text(encoding="utf-8"))
    entries = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        parts = [part.strip() for part in line.split(" --hash=")]
        entries.append((Requirement(parts[0]), parts[1:]))
    return entries


def _pins(python: str) -> dict[str, str]:
    env = {"python_version": python, "python_full_version": f"{python}.0"}
    pins: dict[str, str] = {}
    for req, _ in _entries():
        if req.marker is None or req.marker.evaluate(env):
            [spec] = req.specifier
            name = canonicalize_name(req.name)
            assert name not in pins, f"{name} pinned twice for Python {python}"
            pins[name] = spec.version
    return pins


def test_every_file_is_pinned_with_a_hash() -> None:
    entries = _entries()
    assert entries
    for req, hashes in entries:
        [spec] = req.specifier
        assert spec.operator == "==", f"{req} is not pinned exactly"
        assert hashes and all(h.startswith("sha256:") and len(h) == 71 for h in hashes), req


@pytest.mark.parametrize("python", PYTHONS)
def test_the_lock_covers_every_dependency(python: str) -> None:
    """The project's dependencies and the build backend, for each Python (markers evaluated)."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    wanted += [Requirement(r) for r in pyproject["build-system"]["requires"]]
    pins = _pins(python)
    env = {"python_version": python, "python_full_version": f"{python}.0"}
    for req in wanted:
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{name} is missing from the lock for Python {python}: regenerate it"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} breaks {req}"


def test_python_3_10_gets_a_github_action_utils_it_can_install() -> None:
    assert _pins("3.10")["github-action-utils"].startswith("1.")
    assert _pins("3.12")["github-action-utils"].startswith("2.")
    assert Marker("python_full_version < '3.11'").evaluate({"python_full_version": "3.10.0"})


def test_action_installs_from_the_lock_with_hashes_and_itself_without_deps() -> None:
    [setup] = [s for s in load_action()["runs"]["steps"] if s.get("id") == "setup"]
    script = setup["run"]
    assert '--require-hashes --only-binary=:all: -r "$lock"' in script
    assert '--no-deps --no-build-isolation --no-index "$GITHUB_ACTION_PATH"' in script
    assert 'lock="${GITHUB_ACTION_PATH}/requirements/action.txt"' in script
