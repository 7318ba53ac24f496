"""Thin wrappers around the real `skopeo` CLI, used as an oracle independent of our code.

Skopeo runs in an isolated environment: its own HOME, XDG_RUNTIME_DIR, TMPDIR, an empty
auth file, an empty registries.conf, an empty registries.d and an insecureAcceptAnything
policy written by us, so neither the host's configuration nor /etc/containers matters.
TLS verification is always off (the registries use self-signed certificates or plain HTTP,
and skopeo falls back to HTTP when verification is off).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

SKOPEO_BINARY = "skopeo"
Creds = tuple[str, str]


@cache
def _sandbox() -> Path:
    """A private config/home directory for all skopeo runs of this process."""
    root = Path(tempfile.mkdtemp(prefix="oci-promote-skopeo-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    for sub in ("home", "run", "tmp", "registries.d"):
        (root / sub).mkdir()
    (root / "run").chmod(0o700)
    (root / "auth.json").write_text('{"auths": {}}')
    (root / "registries.conf").write_text("")
    (root / "policy.json").write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return root


def _env(root: Path) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        HOME=str(root / "home"),
        XDG_RUNTIME_DIR=str(root / "run"),
        XDG_CONFIG_HOME=str(root / "home" / ".config"),
        TMPDIR=str(root / "tmp"),
        REGISTRY_AUTH_FILE=str(root / "auth.json"),
        CONTAINERS_REGISTRIES_CONF=str(root / "registries.conf"),
        CONTAINERS_CONF=str(root / "containers.conf"),  # absent on purpose: defaults
    )
    return env


def run_skopeo(args: list[str], *, timeout: float = 300) -> bytes:
    """Run ``skopeo <global opts> args``; return stdout or raise AssertionError with stderr."""
    binary = shutil.which(SKOPEO_BINARY)
    if binary is None:
        raise AssertionError(f"{SKOPEO_BINARY} is not on PATH")
    root = _sandbox()
    cmd = [
        binary,
        "--policy",
        str(root / "policy.json"),
        "--registries.d",
        str(root / "registries.d"),
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, env=_env(root), timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AssertionError(
            f"skopeo failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"stderr:\n{proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout


def _creds_args(flag: str, creds: Creds | None) -> list[str]:
    return [flag, f"{creds[0]}:{creds[1]}"] if creds else []


def _tag_of(ref: str) -> str:
    """The tag of ``host:port/repo:tag`` (``latest`` if there is none or it's a digest)."""
    last = ref.rsplit("/", 1)[-1]
    if "@" in last or ":" not in last:
        return "latest"
    return last.rsplit(":", 1)[1]


def inspect_raw(ref: str, creds: Creds | None = None) -> bytes:
    """The exact manifest bytes the registry serves for ``host/repo:tag`` or ``@digest``."""
    authfile = str(_sandbox() / "auth.json")
    return run_skopeo(
        [
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--authfile",
            authfile,
            *_creds_args("--creds", creds),
            f"docker://{ref}",
        ]
    )


def copy_all_to_oci(ref: str, dest_dir: Path, creds: Creds | None = None, *, tag: str | None = None) -> None:
    """Copy an image/index with all children into an OCI layout, digests preserved.

    The layout's ref name is ``tag`` or else the tag of ``ref`` (``latest`` for digests).
    """
    run_skopeo(
        [
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--src-authfile",
            str(_sandbox() / "auth.json"),
            *_creds_args("--src-creds", creds),
            f"docker://{ref}",
            f"oci:{dest_dir}:{tag or _tag_of(ref)}",
        ]
    )


def copy_oci_to_registry(
    layout_dir: Path, tag: str | None, dest_ref: str, creds: Creds | None = None
) -> None:
    """Seed a registry from an OCI layout without going through our code.

    ``tag`` selects the layout entry by its ref-name annotation; None means the layout's
    only manifest. The layout is only read.
    """
    source = f"oci:{layout_dir}:{tag}" if tag else f"oci:{layout_dir}"
    run_skopeo(
        [
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-authfile",
            str(_sandbox() / "auth.json"),
            *_creds_args("--dest-creds", creds),
            source,
            f"docker://{dest_ref}",
        ]
    )
