"""The three scenarios (LAN, WAN, fan-out) and one measured run of one tool in one of them.

Every run copies into brand-new `docker-registry` processes (empty storage), checks every
destination byte for byte against the source layout, counts the requests each registry saw
(its access log) and re-runs the same command to count a no-op. In the WAN scenario every
registry, source and destinations, sits behind its own relay of :mod:`bench.relay`.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.relay import DelayLine, Relay, SeenRequest
from bench.tools import TOOLS, run_tool
from testkit.interop import ImageTree, registry_problems
from testkit.registry import AccessEntry, RunningRegistry, start_registry

METHODS = ("HEAD", "GET", "POST", "PATCH", "PUT")
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


@dataclass(frozen=True)
class Scenario:
    """``repo:tag`` in the source registry, copied to ``destinations`` registries per run."""

    key: str
    title: str
    repo: str
    tag: str
    tree: ImageTree
    runs: int
    wan: bool = False
    destinations: int = 1
    #: The tools measured here (every tool unless the scenario needs a capability).
    tools: tuple[str, ...] = TOOLS
    #: The source's tags besides ``tag``: its signature, attestation and SBOM (signed scenario).
    extra_tags: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        return self.tree.top


@dataclass
class Outcome:
    ok: bool
    error: str = ""
    wall: float = 0.0
    rss_kib: int = 0
    dest: list[AccessEntry] = field(default_factory=list)
    src: list[AccessEntry] = field(default_factory=list)
    noop_ok: bool = False
    noop_wall: float = 0.0
    noop: list[AccessEntry] = field(default_factory=list)
    started: float = 0.0  # time.monotonic() just before the copy, for the WAN timeline
    #: Of the scenario's extra tags (signature, attestation, SBOM), those at every destination
    #: with the source's digest.
    carried: int = 0
    timeline: list[SeenRequest] = field(default_factory=list)

    def methods(self, entries: Sequence[AccessEntry] | None = None) -> Counter[str]:
        return Counter(e.method for e in (self.dest if entries is None else entries))

    @property
    def src_bytes(self) -> int:
        """Bytes the source sent in GET responses (its access log's body size)."""
        return sum(e.bytes_written for e in self.src if e.method == "GET" and e.status == 200)

    @property
    def src_blob_gets(self) -> int:
        return sum(1 for e in self.src if e.method == "GET" and "/blobs/" in e.path)


@dataclass
class Source:
    """The source registry and the address the tools use for it (its relay in the WAN case)."""

    registry: RunningRegistry
    relay: Relay | None = None

    @property
    def host(self) -> str:
        return self.relay.host if self.relay else self.registry.host


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("sys:")]
    return lines[-1][:300] if lines else "(no stderr)"


def one_run(
    tool: str, sc: Scenario, src: Source, line: DelayLine | None, tmp: Path, seq: int, venv: Path
) -> Outcome:
    """Copy into brand-new registries, verify, count, then re-run the same copy (no-op)."""
    run_dir = tmp / f"run-{seq:03d}-{sc.key}-{tool}"
    dests: list[RunningRegistry] = []
    relays: list[Relay] = []
    try:
        for n in range(sc.destinations):
            dests.append(start_registry(run_dir / f"registry-{n}"))
            if sc.wan and line is not None:
                relays.append(line.add(f"dest{n}", dests[-1].host))
        hosts = [r.host for r in relays] if relays else [d.host for d in dests]
        repo = f"promoted/{sc.key}"
        refs = [f"{h}/{repo}:{sc.tag}" for h in hosts]
        src_ref = f"{src.host}/{sc.repo}:{sc.tag}"
        marks, src_mark = [d.mark() for d in dests], src.registry.mark()
        seen = [len(r.requests) for r in [*([src.relay] if src.relay else []), *relays]]
        started = time.monotonic()
        first = run_tool(tool, src_ref, refs, run_dir / "copy", venv, referrers=bool(sc.extra_tags))
        out = Outcome(ok=False, wall=first.wall, rss_kib=first.rss_kib, started=started)
        out.dest = [e for d, m in zip(dests, marks, strict=True) for e in d.requests_since(m)]
        out.src = src.registry.requests_since(src_mark)
        watched = [*([src.relay] if src.relay else []), *relays]
        out.timeline = sorted(
            (q for r, n in zip(watched, seen, strict=True) for q in r.requests[n:]), key=_at
        )
        problems = [p for d in dests for p in registry_problems(d, repo, sc.tag, sc.tree)]
        if first.rc or problems:
            out.error = f"exit {first.rc}: {_last_line(first.stderr)}" if first.rc else problems[0]
            return out
        out.ok = True
        out.carried = sum(
            all(_digest(d, repo, t) == _digest(src.registry, sc.repo, t) for d in dests)
            for t in sc.extra_tags
        )
        marks = [d.mark() for d in dests]
        again = run_tool(tool, src_ref, refs, run_dir / "noop", venv, referrers=bool(sc.extra_tags))
        out.noop = [e for d, m in zip(dests, marks, strict=True) for e in d.requests_since(m)]
        out.noop_wall = again.wall
        out.noop_ok = again.rc == 0 and not any(registry_problems(d, repo, sc.tag, sc.tree) for d in dests)
        return out
    finally:
        for relay in relays:
            if line is not None:
                line.remove(relay)
        for reg in dests:
            reg.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def _digest(registry: RunningRegistry, repo: str, tag: str) -> str | None:
    """The digest a tag resolves to (HEAD), or None."""
    with registry.client() as client:
        answer = client.head(f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT})
    return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


def _at(request: SeenRequest) -> float:
    return request.at
