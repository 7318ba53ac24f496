"""Write a tiny, deterministic single-platform OCI image layout (standard library only).

The self-test workflow seeds its registry service containers from it, where the shared
fixtures are not available; tests/action checks that the action copies it.

    python3 testkit/make_layout.py DIR [TAG [NAME]]

NAME (a label in the image's config) makes another image with the same layer: the release
self-test promotes several images that share a base layer.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path


def _blob(root: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layer() -> tuple[bytes, str]:
    """A gzipped tar with one file; fixed mtimes so the bytes never change."""
    content = b"promoted by oci-promote's self-test\n"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def make_layout(root: Path, tag: str = "v1", name: str = "") -> str:
    """Create the layout at `root`; return the manifest digest."""
    root.mkdir(parents=True, exist_ok=True)
    layer, diff_id = _layer()
    layer_desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(root, layer)}
    run_config: dict[str, object] = {"Cmd": ["/hello.txt"]}
    if name:
        run_config["Labels"] = {"org.opencontainers.image.title": name}
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": run_config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    config_desc = {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        **_blob(root, json.dumps(config, separators=(",", ":")).encode()),
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer_desc],
    }
    manifest_desc = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **_blob(root, json.dumps(manifest, separators=(",", ":")).encode()),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [manifest_desc],
    }
    (root / "index.json").write_text(json.dumps(index, separators=(",", ":")))
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return str(manifest_desc["digest"])


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3, 4):
        sys.exit(__doc__)
    print(make_layout(Path(sys.argv[1]), *sys.argv[2:]))
