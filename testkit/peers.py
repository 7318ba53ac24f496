"""The Go peers (crane, regctl, oras) as independent readers and writers, for tests and the bench.

`scripts/setup.sh` builds them with ``go install MODULE/cmd/TOOL@VERSION`` at pinned versions
into ``.tools/bin`` of the checkout (never on the user's PATH); cosign is built there too for
the signature work. Every call runs in a private, empty HOME / DOCKER_CONFIG / REGCTL_CONFIG,
so the host's credentials and settings never matter, and talks plain HTTP to the loopback
registries of :mod:`testkit.registry`:

* crane: ``--insecure`` (ggcr would pick HTTP for 127.0.0.1 anyway);
* regctl: ``--host reg=HOST,tls=disabled`` per call, the stateless form of
  ``regctl registry set HOST --tls disabled``;
* oras: ``--plain-http`` (``--from-plain-http``/``--to-plain-http`` for ``oras cp``).

The registry serving the OCI 1.1 referrers API is olareg v0.1.2, also built by
``scripts/setup.sh`` (see :mod:`testkit.olareg`); distribution 2.8.2 (Debian's
``docker-registry``, without the API) is the other registry of the tests.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from functools import cache
from pathlib import Path
from typing import ClassVar

from .versions import PeerMissingError, go_binary

#: The peers the interop tests and the bench run; cosign is installed but used elsewhere.
PEER_NAMES = ("crane", "regctl", "oras")
REF_NAME = "org.opencontainers.image.ref.name"


peer_binary = go_binary


def missing_peers() -> list[str]:
    """The peers not built at their pinned versions."""
    missing = []
    for name in PEER_NAMES:
        try:
            go_binary(name)
        except PeerMissingError:
            missing.append(name)
    return missing


def peer_env(root: Path) -> dict[str, str]:
    """A private, empty configuration world under ``root`` (created on first use)."""
    for sub in ("home", "docker", "regctl", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    config = root / "docker" / "config.json"
    if not config.exists():
        config.write_text('{"auths": {}}')
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
    env.update(
        HOME=str(root / "home"),
        DOCKER_CONFIG=str(root / "docker"),
        REGCTL_CONFIG=str(root / "regctl"),
        XDG_CONFIG_HOME=str(root / "home" / ".config"),
        XDG_CACHE_HOME=str(root / "home" / ".cache"),
        TMPDIR=str(root / "tmp"),
    )
    return env


@cache
def _sandbox() -> Path:
    root = Path(tempfile.mkdtemp(prefix="oci-promote-peers-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def run_peer(name: str, args: list[str], *, timeout: float = 120) -> bytes:
    """Run a peer in the private sandbox; stdout, or AssertionError with its stderr."""
    cmd = [str(peer_binary(name)), *args]
    proc = subprocess.run(cmd, capture_output=True, env=peer_env(_sandbox()), timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AssertionError(
            f"{name} failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"stderr:\n{proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout


def _host(ref: str) -> str:
    return ref.split("/", 1)[0]


def single_entry_layout(layout: Path, digest: str, tag: str, dest: Path) -> Path:
    """A layout naming one image of ``layout`` as ``tag``, sharing its blobs (symlinked).

    Only index.json is new, and it is not part of any image, so every digest is kept; crane
    pushes a layout only when it lists one image.
    """
    entries = json.loads((layout / "index.json").read_bytes())["manifests"] or []
    entry = next(e for e in entries if e["digest"] == digest)
    dest.mkdir(parents=True)
    (dest / "blobs").mkdir()
    (dest / "blobs" / "sha256").symlink_to((layout / "blobs" / "sha256").resolve())
    shutil.copyfile(layout / "oci-layout", dest / "oci-layout")
    top = {k: v for k, v in entry.items() if k != "annotations"} | {"annotations": {REF_NAME: tag}}
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return dest


class Peer(ABC):
    """One Go tool, seen through the operations the interop tests and the bench need."""

    name: ClassVar[str]

    def run(self, args: list[str], *, timeout: float = 120) -> bytes:
        return run_peer(self.name, args, timeout=timeout)

    @abstractmethod
    def copy_args(self, src: str, dest: str) -> list[str]:
        """Arguments of the tool's registry-to-registry copy, every platform, default settings."""

    def copy(self, src: str, dest: str) -> None:
        self.run(self.copy_args(src, dest))

    @abstractmethod
    def push_layout(self, layout: Path, tag: str, dest: str) -> None:
        """Write the image tagged ``tag`` in a one-image OCI layout to the registry ref ``dest``."""

    @abstractmethod
    def manifest(self, ref: str) -> bytes:
        """The manifest bytes exactly as the registry serves them."""

    @abstractmethod
    def pull_layout(self, ref: str, dest: Path) -> str:
        """Pull the image and every blob into a new OCI layout; the ``oci:`` reference naming it."""


class Crane(Peer):
    name = "crane"

    def copy_args(self, src: str, dest: str) -> list[str]:
        return ["copy", "--insecure", src, dest]

    def push_layout(self, layout: Path, tag: str, dest: str) -> None:
        self.run(["push", "--insecure", str(layout), dest])

    def manifest(self, ref: str) -> bytes:
        return self.run(["manifest", "--insecure", ref])

    def pull_layout(self, ref: str, dest: Path) -> str:
        self.run(["pull", "--insecure", "--format", "oci", ref, str(dest)])
        return f"oci:{dest}"  # crane writes the one image without a ref name


class Regctl(Peer):
    name = "regctl"

    @staticmethod
    def hosts(*refs: str) -> list[str]:
        """``--host`` options turning TLS off for each registry named in ``refs``."""
        out: list[str] = []
        for host in dict.fromkeys(_host(r) for r in refs if not r.startswith("ocidir://")):
            out += ["--host", f"reg={host},tls=disabled"]
        return out

    def copy_args(self, src: str, dest: str) -> list[str]:
        return [*self.hosts(src, dest), "image", "copy", src, dest]

    def push_layout(self, layout: Path, tag: str, dest: str) -> None:
        self.run([*self.hosts(dest), "image", "copy", f"ocidir://{layout}:{tag}", dest])

    def manifest(self, ref: str) -> bytes:
        return self.run([*self.hosts(ref), "manifest", "get", "--format", "raw-body", ref])

    def pull_layout(self, ref: str, dest: Path) -> str:
        tar = dest.with_name(dest.name + ".tar")
        self.run([*self.hosts(ref), "image", "export", ref, str(tar)])
        dest.mkdir(parents=True)
        subprocess.run(["tar", "-xf", str(tar), "-C", str(dest)], check=True)
        tar.unlink()
        return f"oci:{dest}:{_tag(ref)}"


class Oras(Peer):
    name = "oras"

    def copy_args(self, src: str, dest: str) -> list[str]:
        return ["cp", "--no-tty", "--from-plain-http", "--to-plain-http", src, dest]

    def push_layout(self, layout: Path, tag: str, dest: str) -> None:
        self.run(["cp", "--no-tty", "--to-plain-http", "--from-oci-layout", f"{layout}:{tag}", dest])

    def manifest(self, ref: str) -> bytes:
        return self.run(["manifest", "fetch", "--plain-http", ref])

    def pull_layout(self, ref: str, dest: Path) -> str:
        tag = _tag(ref)
        self.run(["cp", "--no-tty", "--from-plain-http", "--to-oci-layout", ref, f"{dest}:{tag}"])
        return f"oci:{dest}:{tag}"


def _tag(ref: str) -> str:
    last = ref.rsplit("/", 1)[-1]
    if "@" in last or ":" not in last:
        raise ValueError(f"{ref}: the peers' layouts are named by tag here; give one")
    return last.rsplit(":", 1)[1]


PEERS: dict[str, Peer] = {p.name: p for p in (Crane(), Regctl(), Oras())}
