"""The real tools that make each `diff` case: crane, regctl (Go peers), skopeo, buildah (Debian).

Each runs sandboxed: a private HOME (regctl's config, crane's keychain), a
private storage root for buildah (vfs driver), and only loopback registries.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

from testkit import skopeo
from testkit.images import OCI_INDEX, OCI_MANIFEST, build_layout
from testkit.registry import RunningRegistry
from testkit.versions import go_binary


def _run(cmd: list[str], env: dict[str, str], timeout: float = 300) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def _env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
    return {**keep, "HOME": str(home), "DOCKER_CONFIG": str(home / ".docker"), "TMPDIR": str(home)}


def peer(name: str) -> str:
    return str(go_binary(name))


def crane(home: Path, *args: str) -> str:
    return _run([peer("crane"), "--insecure", *args], _env(home))


def regctl(home: Path, registry: RunningRegistry, *args: str) -> str:
    """regctl with its config in a private HOME, told to talk plain HTTP to `registry`."""
    env = _env(home)
    _run([peer("regctl"), "registry", "set", "--tls", "disabled", registry.host], env)
    return _run([peer("regctl"), *args], env)


def buildah(root: Path, *args: str) -> str:
    """buildah with its own storage (vfs) under `root`, never the host's."""
    binary = shutil.which("buildah")
    if binary is None:
        raise AssertionError("buildah is not on PATH (apt-get install buildah)")
    env = _env(root / "home")
    env["REGISTRY_AUTH_FILE"] = str(root / "auth.json")
    (root / "auth.json").write_text('{"auths": {}}')
    storage = ["--root", str(root / "storage"), "--runroot", str(root / "run"), "--storage-driver", "vfs"]
    return _run([binary, *storage, *args], env)


def seed(
    registry: RunningRegistry, workdir: Path, repo: str, archs: tuple[str, ...] = ("amd64", "arm64")
) -> str:
    """A fresh multi-platform (or single, with one arch) OCI image in `registry`; its reference."""
    layout = workdir / f"layout-{repo.replace('/', '-')}"
    build_layout(layout, "v1", archs, layers=2, layer_size=4096)
    ref = registry.ref(repo, "v1")
    skopeo.copy_oci_to_registry(layout, "v1", ref)
    return ref


def skopeo_copy(src: str, dest: str, *flags: str) -> None:
    """`skopeo copy FLAGS docker://SRC docker://DEST` between loopback registries."""
    tls = ["--src-tls-verify=false", "--dest-tls-verify=false"]
    skopeo.run_skopeo(["copy", *tls, *flags, f"docker://{src}", f"docker://{dest}"])


def seed_and_copy(
    source: RunningRegistry, dest: RunningRegistry, workdir: Path, repo: str, *flags: str
) -> tuple[str, str]:
    """A fresh image A in `source` and what `skopeo copy FLAGS` made of it in `dest`: (A, B)."""
    a = seed(source, workdir, "src/app")
    b = dest.ref(repo, "v1")
    skopeo_copy(a, b, *flags)
    return a, b


def diff(a: str, b: str, *extra: str) -> tuple[int, dict[str, Any] | None, str]:
    """Run `oci-promote diff --json A B`: (exit status, parsed JSON or None, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "oci_promote", "diff", "--json", *extra, a, b],
        capture_output=True,
        text=True,
        env={**_env(Path(os.environ.get("TMPDIR", "/tmp"))), "DOCKER_CONFIG": "/nonexistent"},
        timeout=120,
        check=False,
    )
    return proc.returncode, (json.loads(proc.stdout) if proc.stdout.strip() else None), proc.stderr


def codes(result: dict[str, Any] | None) -> set[str]:
    assert result is not None
    return {cause["code"] for cause in result["causes"]}


def _blob(layout: Path, data: bytes, media_type: str) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _tag(layout: Path, top: dict[str, Any], tag: str) -> None:
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entry = top | {"annotations": {"org.opencontainers.image.ref.name": tag}}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))


def build_image(layout: Path, *, created: str, tag: str = "v1", config_pad: int = 0) -> str:
    """A one-layer image whose only free choice is the config's `created`; returns its digest.

    The layer is deterministic (gzip without a timestamp), so two builds that differ
    in `created` differ in nothing else. `config_pad` inflates the config (hostile cases).
    """
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo("hello.txt")
        payload = b"hello, digest\n"
        info.size, info.mtime = len(payload), 0
        archive.addfile(info, io.BytesIO(payload))
    raw = tar.getvalue()
    layer = _blob(layout, gzip.compress(raw, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
    config: dict[str, Any] = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(raw).hexdigest()}"]},
    }
    if config_pad:
        config["history"] = [{"comment": "x" * config_pad}]
    config_desc = _blob(layout, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc, "layers": [layer]}
    top = _blob(layout, json.dumps(manifest, indent=2).encode(), OCI_MANIFEST)
    _tag(layout, top, tag)
    return str(top["digest"])


def nest(layout: Path, child: dict[str, Any], depth: int, tag: str = "v1") -> str:
    """Wrap `child` (a descriptor already in `layout`) in `depth` indexes; tag the outermost."""
    top = child
    for _ in range(depth):
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [top]}
        top = _blob(layout, json.dumps(index).encode(), OCI_INDEX)
    _tag(layout, top, tag)
    return str(top["digest"])


def top_descriptor(layout: Path) -> dict[str, Any]:
    entry = json.loads((layout / "index.json").read_text())["manifests"][0]
    return {k: entry[k] for k in ("mediaType", "digest", "size")}


def read_blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


def redump(layout: Path, digest: str, media_type: str, **dump: Any) -> dict[str, Any]:
    """The document `digest` written again with json.dumps(**dump): same values, other bytes."""
    raw = read_blob(layout, digest)
    return _blob(layout, json.dumps(json.loads(raw), **dump).encode(), media_type)


def put_index(layout: Path, manifests: list[dict[str, Any]], tag: str, **dump: Any) -> str:
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    top = _blob(layout, json.dumps(index, **dump).encode(), OCI_INDEX)
    _tag(layout, top, tag)
    return str(top["digest"])
