"""How each tool promotes the whole release of :mod:`bench.release_images` to two registries.

Each gets the release the way its users write it, in its own file format, and a private,
empty configuration world (:func:`bench.tools._sandbox`), plain HTTP to the relays:

* ``oci-promote apply FILE``: one promotion file, one entry per image with both destinations;
* ``oci-promote`` sharded: ``plan FILE -o plan.json --shards 4``, then four ``stage plan.json
  --shard K/4`` processes at once, then ``commit plan.json --lock lock.json``;
* ``regsync once -c regsync.yml``: one ``type: image`` sync step per image and destination,
  ``parallel`` left at its default (1), and raised (``REGSYNC_PARALLEL``);
* ``skopeo sync --all --preserve-digests --src yaml --dest docker``: one YAML listing every
  repository's tags, run once per destination (it takes one);
* a ``crane copy`` loop: one invocation per image and destination, in sequence.
"""

from __future__ import annotations

import json
import resource
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.release_images import DEST_PREFIX, SOURCE_PREFIX, Release
from bench.tools import _sandbox, skopeo_argv
from testkit.peers import TOOLS_BIN, peer_binary

#: regsync's documented `parallel` ("Number of concurrent image copies to run ... Defaults to
#: 1"; no maximum is documented). 8 is oci-promote's default number of blobs in flight.
REGSYNC_PARALLEL = 8
SHARDS = 4
#: `apply` with a higher `--jobs` (one limit across the release; the default is 8), for comparison.
APPLY_JOBS = 32
RELEASE_TOOLS = ("oci-promote", "regsync", f"regsync-p{REGSYNC_PARALLEL}", "skopeo", "crane")
ALL_TOOLS = (*RELEASE_TOOLS, "oci-promote-shards", f"oci-promote-j{APPLY_JOBS}")


@dataclass
class Step:
    """One phase of a tool's run (several processes for a loop or the shards)."""

    name: str
    wall: float
    processes: int = 1


@dataclass
class ToolRun:
    rc: int = 0
    wall: float = 0.0
    #: CPU seconds (user + system) of the tool's processes, all of them (RUSAGE_CHILDREN).
    cpu: float = 0.0
    stderr: str = ""
    steps: list[Step] = field(default_factory=list)


def regsync_binary() -> Path:
    return TOOLS_BIN / "regsync"


def _run(argv: Sequence[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), capture_output=True, text=True, env=env, cwd=cwd, timeout=3600, check=False
    )


def _plain(hosts: Sequence[str]) -> list[str]:
    return [a for h in hosts for a in ("--plain-http", h)]


def promotion_file(release: Release, src: str, dests: Sequence[str]) -> str:
    """The release as oci-promote's promotion file (JSON is YAML)."""
    images = [{"source": img.source(src), "to": [img.dest(d) for d in dests]} for img in release.images]
    return json.dumps({"version": 1, "images": images}, indent=1)


def regsync_config(release: Release, src: str, dests: Sequence[str], parallel: int | None) -> str:
    creds = [{"registry": h, "tls": "disabled"} for h in (src, *dests)]
    defaults: dict[str, object] = {"skipDockerConfig": True}
    if parallel is not None:
        defaults["parallel"] = parallel
    sync = [
        {"source": img.source(src), "target": img.dest(d), "type": "image"}
        for img in release.images
        for d in dests
    ]
    return json.dumps({"version": 1, "creds": creds, "defaults": defaults, "sync": sync}, indent=1)


def skopeo_sync_yaml(release: Release, src: str) -> str:
    images: dict[str, list[str]] = {}
    for img in release.images:
        images.setdefault(SOURCE_PREFIX + img.repo, []).append(img.tag)
    return json.dumps({src: {"tls-verify": False, "images": images}}, indent=1)


def run_release_tool(
    tool: str, release: Release, src: str, dests: Sequence[str], work: Path, venv: Path
) -> ToolRun:
    """Promote the release with ``tool``; `work` must not exist yet."""
    work.mkdir(parents=True)
    env = _sandbox(work / "sandbox")
    started, cpu = time.perf_counter(), _children_cpu()
    out = ToolRun()
    hosts = [src, *dests]
    cli = str(venv / "bin" / "oci-promote")

    def step(name: str, argvs: Sequence[Sequence[str]], *, at_once: bool = False) -> bool:
        begun = time.perf_counter()
        if at_once:
            procs = [
                subprocess.Popen(
                    list(a), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=work
                )
                for a in argvs
            ]
            results = [(p.wait(timeout=3600), p.communicate()[1]) for p in procs]
        else:
            results = []
            for argv in argvs:
                proc = _run(argv, env, work)
                results.append((proc.returncode, proc.stderr))
                if proc.returncode:
                    break
        out.steps.append(Step(name, time.perf_counter() - begun, len(argvs)))
        failed = [(rc, err) for rc, err in results if rc]
        if failed:
            out.rc, out.stderr = failed[0][0], f"{name}: {failed[0][1]}"
        return not failed

    if tool == "oci-promote" or tool.startswith("oci-promote-j"):
        (work / "release.yaml").write_text(promotion_file(release, src, dests))
        jobs = ["--jobs", tool.removeprefix("oci-promote-j")] if tool != "oci-promote" else []
        step("apply", [[cli, "apply", "release.yaml", *jobs, *_plain(hosts)]])
    elif tool == "oci-promote-shards":
        (work / "release.yaml").write_text(promotion_file(release, src, dests))
        ok = step(
            "plan",
            [[cli, "plan", "release.yaml", "-o", "plan.json", "--shards", str(SHARDS), *_plain(hosts)]],
        )
        ok = ok and step(
            "stage",
            [
                [cli, "stage", "plan.json", "--shard", f"{k}/{SHARDS}", *_plain(hosts)]
                for k in range(1, SHARDS + 1)
            ],
            at_once=True,
        )
        ok and step("commit", [[cli, "commit", "plan.json", "--lock", "lock.json", *_plain(hosts)]])
    elif tool.startswith("regsync"):
        parallel = REGSYNC_PARALLEL if tool != "regsync" else None
        (work / "regsync.yml").write_text(regsync_config(release, src, dests, parallel))
        step("once", [[str(regsync_binary()), "once", "-c", "regsync.yml"]])
    elif tool == "skopeo":
        (work / "sync.yaml").write_text(skopeo_sync_yaml(release, src))
        auth = str(work / "sandbox" / "auth.json")
        args = ["sync", "--all", "--preserve-digests", "--src", "yaml", "--dest", "docker"]
        args += ["--src-authfile", auth, "--dest-authfile", auth, "--dest-tls-verify=false"]
        argvs = [
            skopeo_argv(work / "sandbox", [*args, str(work / "sync.yaml"), f"{d}/{DEST_PREFIX.rstrip('/')}"])
            for d in dests
        ]
        step("sync", argvs)
    elif tool == "crane":
        crane = str(peer_binary("crane"))
        argvs = [
            [crane, "copy", "--insecure", img.source(src), img.dest(d)]
            for img in release.images
            for d in dests
        ]
        step("loop", argvs)
    else:
        raise ValueError(tool)
    out.wall = time.perf_counter() - started
    out.cpu = _children_cpu() - cpu
    return out


def _children_cpu() -> float:
    """CPU seconds of every child process waited for so far (the tools run one at a time; the
    registries of a run are reaped only after it is measured)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
