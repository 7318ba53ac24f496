"""How each measured tool is installed, sandboxed and run (one timed copy, peak RSS by GNU time).

Every invocation gets a private, empty HOME / XDG dirs / TMPDIR / DOCKER_CONFIG /
REGCTL_CONFIG / auth file / registries.conf and no proxy variables. Plain HTTP to the
loopback registries (or their relays) with each tool's own switch; otherwise defaults:

* oci-promote: ``copy SRC DEST... --json --plain-http HOST`` for each registry (all destinations
  in one command; without ``--plain-http`` a loopback registry gets a TLS handshake first);
* skopeo: ``copy --all --preserve-digests``, with an empty blob-info cache per run (below);
* crane: ``copy --insecure`` (an index is copied with every platform unless ``--platform``);
* regctl: ``image copy`` with ``--host reg=HOST,tls=disabled`` for source and destination;
* oras: ``cp --from-plain-http --to-plain-http`` (the whole graph: no ``--platform``, no
  ``-r``, since the images have no referrers).

Tools that take one destination per run are run once per destination, in sequence, as a
user would; wall times and requests then add up and the peak RSS is the largest.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from testkit.peers import PEER_NAMES, PEERS, peer_binary, peer_env

ROOT = Path(__file__).resolve().parent.parent
GNU_TIME = "/usr/bin/time"
SKOPEO_CACHE_DIR = "/var/lib/containers/cache"  # where skopeo 1.9 keeps its blob-info cache as root
TOOLS = ("oci-promote", "skopeo", *PEER_NAMES)
GO_PEERS = PEER_NAMES
# Run skopeo in a private mount namespace with an empty dir bound over its root cache dir
# (created first on a machine where skopeo has never run as root).
_FRESH_CACHE = 'mkdir -p "$2" && mount --bind "$1" "$2" && shift 2 && exec "$@"'


@dataclass
class Proc:
    rc: int
    wall: float
    rss_kib: int
    stderr: str


def _sandbox(work: Path) -> dict[str, str]:
    """A fresh, empty config world for one invocation; its environment."""
    for name in ("run", "cache", "registries.d"):
        (work / name).mkdir(parents=True)
    (work / "run").chmod(0o700)
    (work / "auth.json").write_text('{"auths": {}}')
    (work / "registries.conf").write_text("")
    (work / "policy.json").write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    env = peer_env(work)
    env.update(
        XDG_RUNTIME_DIR=str(work / "run"),
        XDG_DATA_HOME=str(work / "home" / ".local/share"),
        REGISTRY_AUTH_FILE=str(work / "auth.json"),
        CONTAINERS_REGISTRIES_CONF=str(work / "registries.conf"),
        CONTAINERS_CONF=str(work / "containers.conf"),  # absent on purpose: built-in defaults
    )
    return env


def skopeo_argv(work: Path, args: Sequence[str]) -> list[str]:
    """skopeo behind an empty, private blob-info cache (GNU time inside the namespace)."""
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        _FRESH_CACHE,
        "sh",
        str(work / "cache"),
        SKOPEO_CACHE_DIR,
        GNU_TIME,
        "-f",
        "%M",
        "-o",
        str(work / "rss"),
        "skopeo",
        "--policy",
        str(work / "policy.json"),
        "--registries.d",
        str(work / "registries.d"),
        *args,
    ]


def skopeo_copy_args(work: Path, src: str, dest: str) -> list[str]:
    auth = str(work / "auth.json")
    return [
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--src-authfile",
        auth,
        "--dest-authfile",
        auth,
        src,
        dest,
    ]


def install_release(venv: Path) -> str:
    """Install the project as a user would (`pip install .`, no test extras) into its own venv.

    The tool is then measured as it ships, without the editable install's import hook or
    the development extras (httpx imports click and pygments when they are installed).
    Returns the fingerprint of the installed sources.
    """
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(ROOT)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import oci_promote; print(oci_promote.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return fingerprint(Path(where).parent)


def fingerprint(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _timed(argv: list[str], env: dict[str, str], work: Path) -> Proc:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600, cwd=work, check=False)
    wall = time.perf_counter() - start
    rss_file = work / "rss"
    rss = rss_file.read_text().strip().splitlines() if rss_file.exists() else []
    rss_kib = int(rss[-1]) if rss and rss[-1].isdigit() else -1
    return Proc(proc.returncode, wall, rss_kib, proc.stderr)


#: What each peer needs to carry signatures, attestations and SBOMs (oci-promote does by default).
REFERRER_FLAGS = {"regctl": ["--referrers", "--digest-tags"], "oras": ["-r"]}


def _one(tool: str, src: str, dests: Sequence[str], work: Path, venv: Path, referrers: bool) -> Proc:
    env = _sandbox(work)
    time_rss = [GNU_TIME, "-f", "%M", "-o", str(work / "rss")]
    if tool == "oci-promote":
        plain = [a for ref in (src, *dests) for a in ("--plain-http", ref.split("/", 1)[0])]
        argv = [*time_rss, str(venv / "bin" / "oci-promote"), "copy", src, *dests, "--json", *plain]
    elif tool == "skopeo":
        (dest,) = dests
        argv = skopeo_argv(work, skopeo_copy_args(work, f"docker://{src}", f"docker://{dest}"))
    else:
        (dest,) = dests
        args = PEERS[tool].copy_args(src, dest)
        if referrers:  # the flags go right after the copy subcommand
            at = args.index("copy" if tool == "regctl" else "cp") + 1
            args = [*args[:at], *REFERRER_FLAGS[tool], *args[at:]]
        argv = [*time_rss, str(peer_binary(tool)), *args]
    return _timed(argv, env, work)


def run_tool(
    tool: str, src: str, dests: Sequence[str], work: Path, venv: Path, *, referrers: bool = False
) -> Proc:
    """One timed copy to every destination; `work` must not exist yet (it becomes the sandbox).

    `referrers`: the peers are told to carry referrers and digest tags (REFERRER_FLAGS)."""
    if tool == "oci-promote":
        return _one(tool, src, dests, work, venv, referrers)
    total = Proc(0, 0.0, -1, "")
    for n, dest in enumerate(dests):
        proc = _one(tool, src, [dest], work / f"dest-{n}", venv, referrers)
        total = Proc(
            total.rc or proc.rc, total.wall + proc.wall, max(total.rss_kib, proc.rss_kib), proc.stderr
        )
        if proc.rc:
            break
    return total


def seed(src_ref: str, layout: Path, tag: str, work: Path) -> None:
    """Put a layout's image into the source registry with skopeo (not the tool under test)."""
    env = _sandbox(work)
    auth = str(work / "auth.json")
    args = ["copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "--dest-authfile", auth]
    argv = skopeo_argv(work, [*args, f"oci:{layout}:{tag}", f"docker://{src_ref}"])
    subprocess.run(argv, check=True, capture_output=True, env=env)


def tool_versions() -> dict[str, str]:
    """The module version each Go peer was built from, and skopeo's version."""
    out = {"skopeo": command_output(["skopeo", "--version"])}
    for name in GO_PEERS:
        info = command_output(["go", "version", "-m", str(peer_binary(name))]).splitlines()
        mod = next((line.split()[1:3] for line in info if line.strip().startswith("mod")), ["?", "?"])
        out[name] = f"{mod[0]} {mod[1]} ({info[0].split(': ', 1)[-1] if info else '?'})"
    return out


def command_output(argv: Sequence[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"
