"""What the interop tests share: the images they move, the `oci-promote` CLI, and tree checks.

An image is known by its source layout: :func:`image_tree` walks it from the top digest
(manifest bytes kept as stored, blob sizes), and the checks compare a registry or a layout
written by someone else against that tree, byte for byte, with no code of ours involved.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .registry import HARNESS_USER_AGENT, RunningRegistry

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class InteropImage:
    """One image of an OCI layout: ``key`` names it in test ids and repository names."""

    key: str
    layout: Path
    tag: str
    digest: str


@dataclass
class ImageTree:
    """Every manifest (digest -> bytes as stored) and blob (digest -> size) under one top digest."""

    top: str
    manifests: dict[str, bytes] = field(default_factory=dict)
    blobs: dict[str, int] = field(default_factory=dict)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tagged_digest(layout: Path, tag: str) -> str:
    entries = json.loads((layout / "index.json").read_bytes())["manifests"] or []
    return str(next(e["digest"] for e in entries if (e.get("annotations") or {}).get(REF_NAME) == tag))


def image_tree(layout: Path, top: str) -> ImageTree:
    """Walk the image from ``top`` in ``layout``: children through ``manifests``, blobs
    through ``config``/``layers``/``blobs`` (a ``subject`` is a reference, not content)."""
    tree = ImageTree(top)
    todo = [top]
    while todo:
        digest = todo.pop()
        if digest in tree.manifests:
            continue
        raw = (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
        tree.manifests[digest] = raw
        doc: dict[str, Any] = json.loads(raw)
        todo += [m["digest"] for m in doc.get("manifests") or []]
        for desc in [doc["config"]] if "config" in doc else []:
            tree.blobs[desc["digest"]] = desc["size"]
        for desc in [*(doc.get("layers") or []), *(doc.get("blobs") or [])]:
            tree.blobs[desc["digest"]] = desc["size"]
    return tree


def layout_problems(layout: Path, tree: ImageTree) -> list[str]:
    """What ``layout`` (written by a peer) lacks of ``tree``: missing or altered files."""
    problems = []
    for digest, want in [*tree.manifests.items(), *((d, None) for d in tree.blobs)]:
        path = layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
        if not path.is_file():
            problems.append(f"{digest} missing")
            continue
        data = path.read_bytes()
        if digest_of(data) != digest or (want is not None and data != want):
            problems.append(f"{digest} altered")
        elif want is None and len(data) != tree.blobs[digest]:
            problems.append(f"{digest} has {len(data)} bytes, descriptor says {tree.blobs[digest]}")
    return problems


def registry_problems(reg: RunningRegistry, repo: str, tag: str, tree: ImageTree) -> list[str]:
    """What ``repo`` lacks of ``tree``: the tag and every manifest byte for byte, every blob."""
    problems = []
    headers = {"User-Agent": f"{HARNESS_USER_AGENT} interop-check", "Accept": ACCEPT}
    with reg.client(headers=headers) as client:
        for ref, want in [(tag, tree.manifests[tree.top]), *tree.manifests.items()]:
            resp = client.get(f"/v2/{repo}/manifests/{ref}")
            if resp.status_code != 200 or resp.content != want:
                problems.append(f"manifest {ref}: HTTP {resp.status_code}, equal: {resp.content == want}")
        for digest, size in tree.blobs.items():
            head = client.head(f"/v2/{repo}/blobs/{digest}")
            if head.status_code != 200 or int(head.headers.get("content-length", -1)) != size:
                problems.append(f"blob {digest}: HTTP {head.status_code}")
    return problems


def promote(*args: str) -> dict[str, Any]:
    """Run ``oci-promote copy --json ARGS`` as a user would; its JSON result, or AssertionError."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_PROMOTE_", "DOCKER_"))}
    env["DOCKER_CONFIG"] = "/nonexistent-docker-config"
    proc = subprocess.run(
        [sys.executable, "-m", "oci_promote", "copy", "--json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"oci-promote copy {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result
