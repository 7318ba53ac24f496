"""One measured promotion of the release, and what is counted of it.

Every run writes into two brand-new `docker-registry` processes (empty storage), each behind
its own relay (`bench/relay.py`), as the source is. Afterwards every image is checked at both
destinations against the source layout, tag and every manifest byte for byte, every blob.

Counted, per run:

* requests at each relay (source, dest 1, dest 2): what the relays saw start;
* source blob GETs (its access log) against the release's distinct blobs, and how many
  distinct blobs were read more than once;
* per destination: blob uploads (a completed upload: the ``PUT`` closing a session, or a
  monolithic ``POST ?digest=``, answered 201) and mounts (``POST ?mount=`` answered 201),
  against the distinct blobs each repository must hold; and the uploads of a blob to a
  repository that already had it from an earlier upload or mount ("repeated").
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.machine import loadavg
from bench.relay import DelayLine, Relay
from bench.release_images import DEST_PREFIX, Release
from bench.release_tools import ToolRun, run_release_tool
from testkit.interop import registry_problems
from testkit.registry import AccessEntry, RunningRegistry, start_registry


@dataclass
class DestCount:
    uploads: int = 0
    mounts: int = 0
    repeated: int = 0  # uploads or mounts of a blob the repository already had from this run
    needed: int = 0  # the distinct blobs its repositories must hold, summed over repositories
    requests: int = 0  # at its relay
    #: Its access log's requests by method (HEAD/GET/POST/PATCH/PUT/DELETE).
    methods: Counter[str] = field(default_factory=Counter)


@dataclass
class Measured:
    tool: str
    ok: bool = False
    error: str = ""
    run: ToolRun = field(default_factory=ToolRun)
    src_requests: int = 0  # at the source's relay
    src_blob_gets: int = 0
    src_blobs_read: int = 0  # distinct blobs read
    src_blobs_reread: int = 0  # distinct blobs read more than once
    src_methods: Counter[str] = field(default_factory=Counter)
    dests: list[DestCount] = field(default_factory=list)
    load_before: str = ""

    @property
    def requests(self) -> int:
        return self.src_requests + sum(d.requests for d in self.dests)

    @property
    def repeated(self) -> int:
        return sum(d.repeated for d in self.dests)


def _repo(path: str) -> str:
    return path.removeprefix("/v2/").split("/blobs/", 1)[0]


def source_reads(entries: Sequence[AccessEntry]) -> Counter[str]:
    """Blob GETs at the source by digest (any status: a GET is a read attempt)."""
    return Counter(
        e.path.rsplit("/", 1)[1] for e in entries if e.method == "GET" and "/blobs/sha256:" in e.path
    )


def dest_writes(entries: Sequence[AccessEntry], needed: dict[str, set[str]]) -> DestCount:
    """Uploads, mounts and repeated writes of one destination registry from its access log."""
    count = DestCount(needed=sum(len(b) for b in needed.values()), methods=Counter(e.method for e in entries))
    seen: set[tuple[str, str]] = set()
    for e in entries:
        if "/blobs/uploads/" not in e.path or e.status != 201:
            continue
        if e.method == "POST" and "mount" in e.query:
            digest, is_mount = e.query["mount"], True
        elif e.method in ("PUT", "POST") and "digest" in e.query:
            digest, is_mount = e.query["digest"], False
        else:
            continue
        key = (_repo(e.path), digest)
        if key in seen:
            count.repeated += 1
        seen.add(key)
        if is_mount:
            count.mounts += 1
        else:
            count.uploads += 1
    return count


def measure(
    tool: str,
    release: Release,
    src: RunningRegistry,
    src_relay: Relay,
    line: DelayLine,
    tmp: Path,
    seq: int,
    venv: Path,
) -> Measured:
    """Promote the release with ``tool`` into two new registries behind relays; check and count."""
    run_dir = tmp / f"release-{seq:03d}-{tool}"
    dests: list[RunningRegistry] = []
    relays: list[Relay] = []
    out = Measured(tool, load_before=loadavg())
    try:
        for n in range(2):
            dests.append(start_registry(run_dir / f"registry-{n}"))
            relays.append(line.add(f"dest{n}", dests[-1].host))
        src_mark, src_seen = src.mark(), len(src_relay.requests)
        out.run = run_release_tool(
            tool, release, src_relay.host, [r.host for r in relays], run_dir / "work", venv
        )
        time.sleep(0.1)  # let the relays see the last chunks
        src_entries = src.requests_since(src_mark)
        reads = source_reads(src_entries)
        out.src_methods = Counter(e.method for e in src_entries)
        out.src_requests = len(src_relay.requests) - src_seen
        out.src_blob_gets = sum(reads.values())
        out.src_blobs_read = len(reads)
        out.src_blobs_reread = sum(1 for n in reads.values() if n > 1)
        needed = release.blobs_per_repo()
        for reg, relay in zip(dests, relays, strict=True):
            count = dest_writes(reg.access_log(), needed)
            count.requests = len(relay.requests)
            out.dests.append(count)
        if out.run.rc:
            out.error = f"exit {out.run.rc}: {_last_line(out.run.stderr)}"
            return out
        problems = [
            f"dest{n} {img.repo}:{img.tag}: {p}"
            for n, reg in enumerate(dests)
            for img in release.images
            for p in registry_problems(reg, DEST_PREFIX + img.repo, img.tag, img.tree)
        ]
        out.error = problems[0] if problems else ""
        out.ok = not problems
        return out
    finally:
        for relay in relays:
            line.remove(relay)
        for reg in dests:
            reg.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def start_source(tmp: Path, line: DelayLine) -> tuple[RunningRegistry, Relay]:
    registry = start_registry(tmp / "source")
    return registry, line.add("src", registry.host)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no stderr)"
