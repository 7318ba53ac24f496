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
from typing import Any

from bench.relay import DelayLine, Relay, SeenRequest
from bench.tools import TOOLS, Mode, run_tool
from testkit.interop import ImageTree, registry_problems
from testkit.olareg import start_olareg
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
    #: How the tools are run (concurrency, parallel peers); TLS when `tls`.
    mode: Mode = field(default_factory=Mode)
    tls: bool = False
    #: The scenario this one varies (same image, other mode), for the charts; "" for itself.
    base: str = ""
    #: A link that resets every connection after this many bytes from the source / to the
    #: destination (each run gets its own relay, so its byte counts are the run's).
    cut_down: int | None = None
    cut_up: int | None = None
    #: "olareg" for a destination that can say how much a broken upload session holds.
    dest_kind: str = "distribution"
    #: Re-run the copy to count a no-op (the default-mode scenarios only).
    noop: bool = True
    timeout: float = 3600

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
    cpu: float = -1.0
    #: Connections each relay accepted during the copy, by relay name (src, dest0, ...).
    connections: dict[str, int] = field(default_factory=dict)
    #: Bytes the source relay carried down / the destination relays carried up in the copy.
    src_down: int = 0
    dest_up: int = 0
    #: Launch to the first connection at any relay, seconds (-1 without relays).
    first_connect: float = -1.0

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
    dests: list[Any] = []
    relays: list[Relay] = []
    own_src: Relay | None = None
    try:
        for n in range(sc.destinations):
            if sc.dest_kind == "olareg":
                dests.append(start_olareg(run_dir / f"registry-{n}"))
            else:
                dests.append(start_registry(run_dir / f"registry-{n}", tls=sc.tls))
            if line is not None:
                relays.append(line.add(f"dest{n}", _upstream(dests[-1]), cut_up=sc.cut_up))
        if line is not None and sc.cut_down is not None:
            own_src = line.add("src", src.registry.host, cut_down=sc.cut_down)
        src_relay = own_src or src.relay
        mode = sc.mode
        if sc.tls:
            bundle = run_dir / "ca.pem"
            pems = [p for r in (src.registry, *dests) if (p := getattr(r, "ca_pem_path", None)) is not None]
            bundle.write_text("".join(Path(p).read_text() for p in pems))
            mode = Mode(sc.mode.jobs, bundle, sc.mode.parallel)
        hosts = [r.host for r in relays] if relays else [d.host for d in dests]
        repo = f"promoted/{sc.key}"
        refs = [f"{h}/{repo}:{sc.tag}" for h in hosts]
        src_ref = f"{src_relay.host if src_relay else src.registry.host}/{sc.repo}:{sc.tag}"
        marks, src_mark = [d.mark() for d in dests], src.registry.mark()
        watched = [*([src_relay] if src_relay else []), *relays]
        seen = [len(r.requests) for r in watched]
        before = {r.name: (r.connections, len(r.connected), r.bytes_down, r.bytes_up) for r in watched}
        started = time.monotonic()
        first = run_tool(
            tool,
            src_ref,
            refs,
            run_dir / "copy",
            venv,
            referrers=bool(sc.extra_tags),
            mode=mode,
            timeout=sc.timeout,
        )
        out = Outcome(ok=False, wall=first.wall, rss_kib=first.rss_kib, started=started, cpu=first.cpu)
        out.connections = {r.name: r.connections - before[r.name][0] for r in watched}
        connects = [t for r in watched for t in r.connected[before[r.name][1] :]]
        out.first_connect = min(connects) - started if connects else -1.0
        if src_relay is not None:
            out.src_down = src_relay.bytes_down - before[src_relay.name][2]
        out.dest_up = sum(r.bytes_up - before[r.name][3] for r in relays)
        out.dest = [e for d, m in zip(dests, marks, strict=True) for e in d.requests_since(m)]
        out.src = src.registry.requests_since(src_mark)
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
        if not sc.noop:
            return out
        marks = [d.mark() for d in dests]
        again = run_tool(
            tool, src_ref, refs, run_dir / "noop", venv, referrers=bool(sc.extra_tags), mode=mode
        )
        out.noop = [e for d, m in zip(dests, marks, strict=True) for e in d.requests_since(m)]
        out.noop_wall = again.wall
        out.noop_ok = again.rc == 0 and not any(registry_problems(d, repo, sc.tag, sc.tree) for d in dests)
        return out
    finally:
        for relay in [*relays, *([own_src] if own_src else [])]:
            if line is not None:
                line.remove(relay)
        for reg in dests:
            reg.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def _upstream(registry: Any) -> str:
    """Where a relay forwards to: the registry's own port (olareg: its recording proxy)."""
    return str(registry.host)


def _digest(registry: RunningRegistry, repo: str, tag: str) -> str | None:
    """The digest a tag resolves to (HEAD), or None."""
    with registry.client() as client:
        answer = client.head(f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT})
    return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


def _at(request: SeenRequest) -> float:
    return request.at
