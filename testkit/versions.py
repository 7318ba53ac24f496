"""The pinned versions of the tools the tests and the bench run, read from where each is written.

- The Go tools: ``scripts/go-tools.txt``, which ``scripts/setup.sh`` builds from. A tool built
  from another version is refused (:func:`testkit.peers.peer_binary`), so a stale
  ``.tools/bin`` fails with a line saying what to run instead of testing the wrong tool.
- actions/cache: ``action.yml``'s ``uses:`` lines, the only place GitHub reads a pin from.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
GO_TOOLS_FILE = ROOT / "scripts" / "go-tools.txt"
TOOLS_BIN = ROOT / ".tools" / "bin"
ACTION_YML = ROOT / "action.yml"


@dataclass(frozen=True)
class GoTool:
    """One line of scripts/go-tools.txt."""

    spec: str  # PACKAGE@VERSION (go install) or MODULE@VERSION (built in place)
    in_place: str | None = None  # the package built inside the downloaded module

    @property
    def version(self) -> str:
        return self.spec.rpartition("@")[2]

    @property
    def name(self) -> str:
        return PurePosixPath(self.in_place or self.spec.rpartition("@")[0]).name

    @property
    def binary(self) -> Path:
        return TOOLS_BIN / self.name


@cache
def go_tools() -> dict[str, GoTool]:
    """Every pinned Go tool by binary name, as scripts/setup.sh reads the file."""
    tools = {}
    for line in GO_TOOLS_FILE.read_text().splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        tool = GoTool(fields[0], fields[1] if len(fields) > 1 else None)
        tools[tool.name] = tool
    return tools


def built_from(tool: GoTool) -> str | None:
    """What the binary was built from, as setup.sh records it; None when it cannot be told."""
    if tool.in_place:  # `go version -m` says (devel) for these: setup.sh writes a stamp
        stamp = tool.binary.with_name(tool.name + ".built-from")
        return stamp.read_text().strip() if stamp.is_file() else None
    go = shutil.which("go")
    if go is None:
        return None
    info = subprocess.run([go, "version", "-m", str(tool.binary)], capture_output=True, text=True).stdout
    path = version = None
    for line in info.splitlines():
        fields = line.split("\t")
        if len(fields) > 2 and fields[1] == "path":
            path = fields[2]
        elif len(fields) > 3 and fields[1] == "mod" and version is None:
            version = fields[3]
    return f"{path}@{version}" if path and version else None


def action_commit(action: str) -> str:
    """The commit action.yml pins `action` (e.g. ``actions/cache``) at; every use agrees."""
    pins = set(
        re.findall(rf"uses:\s*{re.escape(action)}(?:/[\w-]+)*@([0-9a-f]{{40}})", ACTION_YML.read_text())
    )
    if len(pins) != 1:
        raise AssertionError(f"action.yml pins {action} at {len(pins)} commits: {sorted(pins)}")
    return pins.pop()


class PeerMissingError(RuntimeError):
    """A Go tool is not built, or built from another version; the message says what to run."""


@cache
def go_binary(name: str) -> Path:
    """The path of the Go tool `name`, built at its pinned version, or PeerMissingError."""
    tool = go_tools().get(name)
    if tool is None:
        raise PeerMissingError(f"{name} is not pinned in {GO_TOOLS_FILE.relative_to(ROOT)}")
    if not tool.binary.is_file() or not tool.binary.stat().st_mode & 0o111:
        raise PeerMissingError(
            f"{name} not found at {tool.binary}: run scripts/setup.sh (it builds the Go tools)"
        )
    built = built_from(tool)
    if built is not None and built != tool.spec:
        raise PeerMissingError(
            f"{tool.binary} was built from {built}, but {GO_TOOLS_FILE.relative_to(ROOT)} pins "
            f"{tool.spec}: run scripts/setup.sh"
        )
    return tool.binary
