"""Synthetic OCI image layouts with random-content gzip layers, for tests and the benchmark.

Layers are real tar+gzip archives of random (incompressible) bytes, streamed to disk so a
512 MiB layer never sits in memory. Fresh content every call: nothing is shared by accident.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def _put_blob(blobs: Path, data: bytes, media_type: str) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _put_random_layer(blobs: Path, size: int) -> tuple[dict[str, Any], str]:
    """Stream a real tar+gzip of one file of `size` random bytes to disk; (descriptor, diff_id)."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: gzip container
    blob_hash, diff_hash, written = hashlib.sha256(), hashlib.sha256(), 0
    tmp = blobs / f".tmp-{os.getpid()}-{time.monotonic_ns()}"
    with tmp.open("wb") as out:

        def emit(raw: bytes) -> None:
            nonlocal written
            diff_hash.update(raw)
            data = compressor.compress(raw)
            out.write(data)
            blob_hash.update(data)
            written += len(data)

        info = tarfile.TarInfo("random.bin")
        info.size, info.mode, info.mtime = size, 0o644, 0
        emit(info.tobuf(format=tarfile.USTAR_FORMAT))
        left = size
        while left:
            chunk = os.urandom(min(4 * MIB, left))
            emit(chunk)
            left -= len(chunk)
        emit(b"\0" * (-size % 512) + b"\0" * 1024)  # pad the member, then the end-of-archive blocks
        tail = compressor.flush()
        out.write(tail)
        blob_hash.update(tail)
        written += len(tail)
    tmp.rename(blobs / blob_hash.hexdigest())
    desc = {"mediaType": OCI_LAYER_GZIP, "digest": f"sha256:{blob_hash.hexdigest()}", "size": written}
    return desc, f"sha256:{diff_hash.hexdigest()}"


def _put_image_manifest(blobs: Path, arch: str, layers: int, layer_size: int) -> dict[str, Any]:
    descs, diff_ids = zip(*(_put_random_layer(blobs, layer_size) for _ in range(layers)), strict=True)
    return put_manifest(blobs, arch, descs, diff_ids)


def put_manifest(
    blobs: Path, arch: str, layers: Sequence[dict[str, Any]], diff_ids: Sequence[str]
) -> dict[str, Any]:
    """A config and an image manifest over these layers, stored; the manifest's descriptor
    with its platform, as an index names it."""
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _put_blob(blobs, json.dumps(config).encode(), OCI_CONFIG),
        "layers": list(layers),
    }
    desc = _put_blob(blobs, json.dumps(manifest, indent=2).encode(), OCI_MANIFEST)
    return desc | {"platform": {"architecture": arch, "os": "linux"}}


def build_layout(path: Path, tag: str, archs: Sequence[str], layers: int, layer_size: int) -> str:
    """An OCI layout with one tagged image (an index when several archs); returns its digest."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    manifests = [_put_image_manifest(blobs, arch, layers, layer_size) for arch in archs]
    if len(manifests) == 1:
        top = manifests[0]
        top.pop("platform")
    else:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        top = _put_blob(blobs, json.dumps(index, indent=2).encode(), OCI_INDEX)
    entry = top | {"annotations": {"org.opencontainers.image.ref.name": tag}}
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return str(top["digest"])
