"""Micro-benchmark: `plan` of a 1,000-entry promotion file against the in-memory storage.

Usage: python bench/plan_micro.py [--entries N] [--runs N] [--json]

What `plan` costs itself, with no network: the file is parsed and validated, every source
tag resolved, every image read, every destination looked at, the shards assigned
(`--shards auto`), all through `oci_promote.release`'s `ReleaseOptions(opener=...)` onto
`storage/memory.py`. The source holds 50 repositories of 20 tags; the images share a base
layer, each repository's images a dependencies layer, and every 50th image is a two-platform
index. Half the entries name their destination, half take it from the defaults
(`to-registry`, `strip-prefix`, `add-prefix`); the destination already holds the first ten
repositories' images, so the inventory finds some of everything. Issue 19's target: under 2 s.
The figure is the median wall of ``--runs`` plans (5), each on fresh storages, in one process
(imports and the first run's warm-up are paid once; the first run is reported too).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import sys
import time
from typing import Any

from oci_promote.release import ReleaseOptions, parse_promotion, plan_release_file
from oci_promote.storage.memory import MemoryRegistry, MemoryStorage
from oci_promote.types.digest import parse_digest
from oci_promote.types.reference import Reference

SOURCE, DEST = "staging.example.com", "prod.example.com"
REPOS, TAGS = 50, 20
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _blob(repo: MemoryStorage, data: bytes, media_type: str) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    repo._repo.blobs[parse_digest(digest)] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def _manifest(repo: MemoryStorage, doc: dict[str, Any], media_type: str, tag: str | None) -> dict[str, Any]:
    raw = json.dumps(doc).encode()
    digest = parse_digest("sha256:" + hashlib.sha256(raw).hexdigest())
    repo._repo.manifests[digest] = (raw, media_type)
    if tag:
        repo._repo.tags[tag] = digest
    return {"mediaType": media_type, "digest": str(digest), "size": len(raw)}


def _image(repo: MemoryStorage, r: int, t: int, arch: str) -> dict[str, Any]:
    layers = [
        _blob(repo, f"base {arch}".encode() * 64, "application/vnd.oci.image.layer.v1.tar+gzip"),
        _blob(repo, f"deps {r} {arch}".encode() * 64, "application/vnd.oci.image.layer.v1.tar+gzip"),
        _blob(repo, f"app {r} {t} {arch}".encode() * 64, "application/vnd.oci.image.layer.v1.tar+gzip"),
    ]
    config = _blob(
        repo,
        json.dumps({"architecture": arch, "os": "linux", "n": [r, t]}).encode(),
        "application/vnd.oci.image.config.v1+json",
    )
    return {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers}


def _push(repo: MemoryStorage, r: int, t: int, tag: str) -> None:
    if (r * TAGS + t) % 50 == 49:
        children = []
        for arch in ("amd64", "arm64"):
            desc = _manifest(repo, _image(repo, r, t, arch), OCI_MANIFEST, None)
            children.append(desc | {"platform": {"architecture": arch, "os": "linux"}})
        _manifest(repo, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}, OCI_INDEX, tag)
    else:
        _manifest(repo, _image(repo, r, t, "amd64"), OCI_MANIFEST, tag)


def world(entries: int) -> tuple[dict[str, MemoryRegistry], str]:
    """The two in-memory registries and the promotion file's text."""
    src, dest = MemoryRegistry(SOURCE), MemoryRegistry(DEST)
    lines = [
        "version: 1",
        "defaults:",
        "  protect: ['v*']",
        f"  to-registry: {DEST}",
        "  strip-prefix: staging/",
        "  add-prefix: acme/",
        "images:",
    ]
    for n in range(entries):
        r, t = divmod(n, TAGS)
        r %= REPOS
        tag = f"1.{n // (REPOS * TAGS)}.{t}"
        _push(src.storage(f"staging/svc-{r:02d}"), r, t, tag)
        if r < 10:
            _push(dest.storage(f"acme/svc-{r:02d}"), r, t, tag)
        lines.append(f"  - source: {SOURCE}/staging/svc-{r:02d}:{tag}")
        if n % 2:
            lines.append(f"    to: [{DEST}/acme/svc-{r:02d}:{tag}]")
    return {SOURCE: src, DEST: dest}, "\n".join(lines) + "\n"


async def one(entries: int) -> tuple[float, float, float, int]:
    """(parse seconds, plan seconds, plan CPU seconds, shards) of one plan on fresh storages."""
    registries, text = world(entries)

    def opener(ref: Reference) -> MemoryStorage:
        return registries[ref.registry].storage(ref.repository)

    started, cpu = time.perf_counter(), time.process_time()
    promotion = parse_promotion(text, "release.yaml")
    parsed = time.perf_counter()
    plan = await plan_release_file(promotion, ReleaseOptions(opener=opener), shards="auto")
    done, cpu = time.perf_counter(), time.process_time() - cpu
    if plan.problems or len(plan.entries) != entries:
        raise RuntimeError(f"the plan has {len(plan.entries)} entries and problems: {plan.problems[:3]}")
    return parsed - started, done - started, cpu, plan.shards


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    results = [asyncio.run(one(args.entries)) for _ in range(args.runs)]
    walls = [w for _, w, _, _ in results]
    figures = {
        "entries": args.entries,
        "walls": walls,
        "parse": [p for p, _, _, _ in results],
        "median": statistics.median(walls),
        "cpu": [c for _, _, c, _ in results],
        "shards": results[0][3],
        "description": (
            f"{args.entries} entries (50 repositories x 20 tags; every 50th image a two-platform index; "
            "half the entries with `to:`, half mapped by the defaults; the destination already holds "
            f"a fifth of them), `--shards auto` ({results[0][3]} shard(s)), in-memory source and "
            "destination (`ReleaseOptions(opener=...)`), fresh storages each run, one process; the "
            "wall includes parsing and validating the file "
            f"(median {statistics.median(p for p, _, _, _ in results):.3f} s of it)."
        ),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        cpu = ", ".join(f"{c:.3f}" for c in figures["cpu"])
        print(
            f"plan of {args.entries} entries: median {figures['median']:.3f} s; walls: "
            + ", ".join(f"{w:.3f}" for w in walls)
            + f"; CPU: {cpu}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
