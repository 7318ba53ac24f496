"""The release of issue 19's benchmark: 30 images in 5 source repositories, sharing base layers.

One OCI layout holds every image (one blob directory, so a shared layer is one file); each
image is named there ``REPO-TAG`` and seeded into the source registry as ``staging/REPO:TAG``
with skopeo (not a tool under test). The layers are random tar+gzip (fresh every run, as in
the other scenarios), stacked the way real services share them:

* every linux/amd64 image starts with the same OS layer;
* svc-a..svc-c add runtime A, svc-d and svc-e runtime B;
* every image of one repository has the repository's dependencies layer;
* every image has its own application layer and config.

One image, ``svc-e:1.0.5``, is a multi-arch index (linux/amd64 + linux/arm64); its arm64
manifest has arm64 variants of the OS, runtime and dependencies layers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testkit.images import MIB, OCI_INDEX, _put_blob, _put_random_layer, put_manifest
from testkit.interop import REF_NAME, ImageTree, image_tree

REPOS = ("svc-a", "svc-b", "svc-c", "svc-d", "svc-e")
TAGS = ("1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5")
INDEX_IMAGE = ("svc-e", "1.0.5")
SOURCE_PREFIX = "staging/"
DEST_PREFIX = "prod/"

#: Layer sizes of the full run and of --quick (bytes of random content before gzip).
SIZES = {
    "full": {"os": 4 * MIB, "runtime": 2 * MIB, "deps": 1 * MIB, "app": MIB // 2},
    "quick": {"os": MIB, "runtime": MIB // 2, "deps": MIB // 4, "app": MIB // 8},
}


@dataclass(frozen=True)
class Image:
    """One image of the release: ``repo:tag`` (without prefix), its digest and its tree."""

    repo: str
    tag: str
    digest: str
    tree: ImageTree

    @property
    def name(self) -> str:
        """Its name in the bench layout."""
        return f"{self.repo}-{self.tag}"

    def source(self, host: str) -> str:
        return f"{host}/{SOURCE_PREFIX}{self.repo}:{self.tag}"

    def dest(self, host: str) -> str:
        return f"{host}/{DEST_PREFIX}{self.repo}:{self.tag}"


@dataclass(frozen=True)
class Release:
    layout: Path
    images: tuple[Image, ...]

    def distinct_blobs(self) -> dict[str, int]:
        """Every blob of the release (configs and layers) once: digest -> size."""
        return {d: s for img in self.images for d, s in img.tree.blobs.items()}

    def blobs_per_repo(self) -> dict[str, set[str]]:
        """Destination repository -> the distinct blobs it must hold."""
        out: dict[str, set[str]] = {}
        for img in self.images:
            out.setdefault(DEST_PREFIX + img.repo, set()).update(img.tree.blobs)
        return out

    def manifests(self) -> int:
        return len({d for img in self.images for d in img.tree.manifests})


def build_release(path: Path, mode: str = "full") -> Release:
    """Write the release's layout at ``path``; every image with its digest and tree."""
    size = SIZES[mode]
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    layer_cache: dict[str, tuple[dict[str, Any], str]] = {}

    def layer(key: str, kind: str) -> tuple[dict[str, Any], str]:
        if key not in layer_cache:
            layer_cache[key] = _put_random_layer(blobs, size[kind])
        return layer_cache[key]

    def stack(arch: str, repo: str, tag: str) -> dict[str, Any]:
        runtime = "A" if repo in REPOS[:3] else "B"
        parts = [
            layer(f"os-{arch}", "os"),
            layer(f"runtime-{runtime}-{arch}", "runtime"),
            layer(f"deps-{repo}-{arch}", "deps"),
            layer(f"app-{repo}-{tag}-{arch}", "app"),
        ]
        return put_manifest(blobs, arch, [d for d, _ in parts], [i for _, i in parts])

    entries, names = [], []
    for repo in REPOS:
        for tag in TAGS:
            if (repo, tag) == INDEX_IMAGE:
                index = {
                    "schemaVersion": 2,
                    "mediaType": OCI_INDEX,
                    "manifests": [stack(a, repo, tag) for a in ("amd64", "arm64")],
                }
                top = _put_blob(blobs, json.dumps(index, indent=2).encode(), OCI_INDEX)
            else:
                top = stack("amd64", repo, tag)
                top.pop("platform")
            entries.append(top | {"annotations": {REF_NAME: f"{repo}-{tag}"}})
            names.append((repo, tag, str(top["digest"])))
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))
    images = tuple(Image(r, t, d, image_tree(path, d)) for r, t, d in names)
    return Release(path, images)
