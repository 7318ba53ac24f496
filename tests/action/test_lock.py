"""action-runtime/requirements.txt: every file hash-pinned, exactly pyproject's runtime dependencies.

The lock is universal (markers for Python 3.10 and up), so the checks evaluate it for
each supported Python, as pip on the runner will. A dependency added to (or removed from)
pyproject.toml fails here until `action-runtime/lock.sh` is run again. The links file the
action installs from must point at exactly the wheels the lock pins.
"""

from __future__ import annotations

import html
import os
import re

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from testkit.action_runner import REPO_ROOT, load_action

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

LOCK = REPO_ROOT / "action-runtime" / "requirements.txt"
LINKS = REPO_ROOT / "action-runtime" / "links.html"
LOCK_COMMAND = REPO_ROOT / "action-runtime" / "lock.sh"
PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]
#: Build backends and their helpers: the action runs from its checkout, builds nothing.
BUILD_TOOLS = {"hatchling", "setuptools", "flit-core", "pdm-backend", "poetry-core", "wheel", "pip"}
_REGENERATE = "run action-runtime/lock.sh"
#: A name in a `# via NAME` or `#   NAME` annotation line.
_VIA = re.compile(r"#\s+(?:via\s+)?([A-Za-z0-9_.-]+(?: \(pyproject\.toml\))?)\s*$", re.M)


def _entries() -> list[tuple[Requirement, list[str], list[str]]]:
    """(requirement, hashes, the names in its `# via` annotation) per locked entry."""
    entries: list[tuple[Requirement, list[str], list[str]]] = []
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text(encoding="utf-8")):
        if not block.strip() or block.startswith("#"):
            continue
        spec, _, comments = block.partition("\n    #")
        text = re.sub(r"\\\n\s*", " ", spec)
        parts = [part.strip() for part in text.split(" --hash=")]
        via = _VIA.findall("#" + comments)
        entries.append((Requirement(parts[0]), parts[1:], via))
    return entries


def _env(python: str) -> dict[str, str]:
    return {"python_version": python, "python_full_version": f"{python}.0"}


def _pins(python: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for req, _, _ in _entries():
        if req.marker is None or req.marker.evaluate(_env(python)):
            [spec] = req.specifier
            name = canonicalize_name(req.name)
            assert name not in pins, f"{name} pinned twice for Python {python}"
            pins[name] = spec.version
    return pins


def _runtime_dependencies() -> list[Requirement]:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [Requirement(r) for r in pyproject["project"]["dependencies"]]


def test_every_file_is_pinned_with_a_hash() -> None:
    entries = _entries()
    assert len(entries) >= 10
    for req, hashes, _ in entries:
        [spec] = req.specifier
        assert spec.operator == "==", f"{req} is not pinned exactly"
        assert hashes and all(h.startswith("sha256:") and len(h) == 71 for h in hashes), req


@pytest.mark.parametrize("python", PYTHONS)
def test_the_lock_covers_every_runtime_dependency(python: str) -> None:
    pins = _pins(python)
    for req in _runtime_dependencies():
        if req.marker is not None and not req.marker.evaluate(_env(python)):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{name} is missing from the lock for Python {python}: {_REGENERATE}"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} breaks {req}: {_REGENERATE}"
        )


def test_the_lock_pins_no_dependency_pyproject_no_longer_has() -> None:
    """The lock's direct entries are pyproject's dependencies, no more: a removed one fails."""
    direct = {
        canonicalize_name(req.name) for req, _, via in _entries() if "oci-promote (pyproject.toml)" in via
    }
    assert direct == {canonicalize_name(r.name) for r in _runtime_dependencies()}, _REGENERATE
    for req, _, via in _entries():
        assert via, f"{req.name} is in the lock for no reason given: {_REGENERATE}"


def test_the_build_backend_is_not_in_the_lock() -> None:
    locked = {canonicalize_name(req.name) for req, _, _ in _entries()}
    assert not locked & BUILD_TOOLS, "action.yml builds nothing: the lock needs no build tools"


def test_python_3_10_gets_a_github_action_utils_it_can_install() -> None:
    assert _pins("3.10")["github-action-utils"].startswith("1.")
    assert _pins("3.12")["github-action-utils"].startswith("2.")
    assert Marker("python_full_version < '3.11'").evaluate({"python_full_version": "3.10.0"})


def test_the_lock_says_how_it_is_made() -> None:
    assert "#    action-runtime/lock.sh\n" in LOCK.read_text(encoding="utf-8")
    assert os.access(LOCK_COMMAND, os.X_OK)
    script = LOCK_COMMAND.read_text(encoding="utf-8")
    assert re.search(r"uv\" pip compile .*pyproject\.toml", script) and "--generate-hashes" in script
    assert "--universal --python-version 3.10" in script and "action-runtime/links.py" in script


def _links() -> list[tuple[str, str, str]]:
    """(url without fragment, sha256, file name) per link in action-runtime/links.html."""
    found = re.findall(r'<a href="([^"#]+)#sha256=([0-9a-f]{64})">([^<]+)</a>', LINKS.read_text("utf-8"))
    return [(html.unescape(url), digest, html.unescape(name)) for url, digest, name in found]


def test_the_links_are_exactly_the_locked_wheels() -> None:
    links = _links()
    assert links
    locked: dict[tuple[str, str], set[str]] = {}
    for req, hashes, _ in _entries():
        [spec] = req.specifier
        key = (canonicalize_name(req.name), spec.version)
        locked.setdefault(key, set()).update(h.removeprefix("sha256:") for h in hashes)
    covered = set()
    for url, digest, filename in links:
        assert url.startswith("https://files.pythonhosted.org/packages/") and url.endswith("/" + filename)
        name, version, _, _ = parse_wheel_filename(filename)
        key = (canonicalize_name(name), str(version))
        assert digest in locked.get(key, set()), f"{filename}: sha256 {digest} is not the lock's"
        covered.add(key)
    assert covered == set(locked), f"no link for {set(locked) - covered}: {_REGENERATE}"


#: The compiled dependencies (pydantic's core; PyYAML, which reads promotion files, ships
#: compiled wheels only); every other pin is pure Python.
COMPILED = ("pydantic-core", "pyyaml")
#: Linux x64 and arm64, macOS arm64, Windows x64: the hosted runners.
RUNNER_PLATFORMS = ("manylinux_2_17_x86_64", "manylinux_2_17_aarch64", "macosx_11_0_arm64", "win_amd64")


@pytest.mark.parametrize("python", PYTHONS)
def test_every_hosted_runner_finds_a_wheel_of_each_locked_package(python: str) -> None:
    """Each hosted runner installs every pin from the links: a pure-Python wheel for each
    pin but the compiled ones, and their compiled wheel for its Python and platform."""
    pins = _pins(python)
    for name, version in pins.items():
        if name not in COMPILED:
            assert _pure_wheels(name, version), f"{name}=={version}: no pure-Python wheel for Python {python}"
    tag = "cp" + python.replace(".", "")
    for compiled in COMPILED:
        assert compiled in pins
        names = [
            filename
            for _, _, filename in _links()
            if parse_wheel_filename(filename)[0] == compiled
            and str(parse_wheel_filename(filename)[1]) == pins[compiled]
        ]
        for platform in RUNNER_PLATFORMS:
            assert any(f"-{tag}-{tag}-" in n and platform in n for n in names), f"{compiled} {tag} {platform}"


def _pure_wheels(name: str, version: str) -> list[str]:
    found = []
    for _, _, filename in _links():
        wheel, wheel_version, _, tags = parse_wheel_filename(filename)
        pure = any(t.abi == "none" and t.platform == "any" and t.interpreter.startswith("py") for t in tags)
        if wheel == canonicalize_name(name) and str(wheel_version) == version and pure:
            found.append(filename)
    return found


def test_action_installs_only_the_lock_with_hashes() -> None:
    [install] = [s for s in load_action()["runs"]["steps"] if s.get("id") == "install"]
    script = install["run"]
    assert 'lock="${GITHUB_ACTION_PATH}/action-runtime/requirements.txt"' in script
    assert 'links="${GITHUB_ACTION_PATH}/action-runtime/links.html"' in script
    installs = [line for line in script.splitlines() if re.search(r"\b(pip|uv pip) install\b", line)]
    assert len(installs) == 3  # uv, the runner's pip, the environment's own pip
    for n, line in enumerate(script.splitlines()):
        if line in installs:
            command = " ".join(script.splitlines()[n : n + 3])
            assert "--require-hashes" in command and '-r "$lock"' in command, command
            assert "--only-binary" in command, command
    assert 'GITHUB_ACTION_PATH"\n' not in script and "--no-build-isolation" not in script
