"""The plan file: what `plan` writes and `stage` / `commit` read (JSON, validated on reading).

Every source is pinned by digest here, so a source tag moved after the plan changes nothing
that is staged or committed. Each entry records what its destination tags held when planned
(`current`), so `commit` can tell a protected tag that moved since.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import PromoteError, UsageError
from ..types.digest import Digest, parse_digest
from ..types.reference import Reference, parse_reference

PLAN_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlannedDestination(_Model):
    #: `host/repo:tag`, or `host/repo` alone for a destination pinned by digest only.
    reference: str
    tag: str | None
    #: What the tag held at plan time (None: no such tag, or no tag).
    current: str | None = None

    @property
    def ref(self) -> Reference:
        return parse_reference(self.reference, default_tag=None)

    @property
    def repository(self) -> str:
        return self.ref.name

    def pinned(self, digest: str) -> str:
        return f"{self.repository}@{digest}"


class PlannedEntry(_Model):
    #: Position in the plan (1-based), how messages name it with its source.
    id: int
    #: Position of the promotion file entry it came from (0-based, as `images[N]`).
    entry: int
    #: The source as the file names it (with its tag), and pinned.
    source: str
    pinned: str
    digest: str
    media_type: str
    destinations: list[PlannedDestination]
    protect: list[str] = Field(default_factory=list)
    referrers: bool = True
    referrer_types: list[str] = Field(default_factory=list)
    require_referrers: list[str] = Field(default_factory=list)
    include_foreign_layers: bool = False
    #: Bytes the plan found missing at the destinations (each blob counted once per repository).
    bytes: int = 0
    blobs: int = 0
    #: Tags that will move to this digest (new tags included), and how many referrers go along.
    tags_to_move: int = 0
    #: The referrers (signatures, attestations, SBOMs) found at the source, carried along.
    referrer_digests: list[str] = Field(default_factory=list)
    shard: int = 1

    @property
    def label(self) -> str:
        return f"#{self.id} {self.source}"

    @property
    def source_ref(self) -> Reference:
        return parse_reference(self.pinned)

    @property
    def digest_value(self) -> Digest:
        return parse_digest(self.digest)

    @property
    def tags_moving(self) -> int:
        """Tags that exist now and hold another digest (the rest of `tags_to_move` are new)."""
        return sum(1 for d in self.destinations if d.tag and d.current not in (None, self.digest))

    def repositories(self) -> list[str]:
        return list(dict.fromkeys(d.repository for d in self.destinations))


class Throttle(_Model):
    registry: str
    pauses: int
    seconds: float


class PlanFile(_Model):
    version: int = PLAN_VERSION
    #: How many shards the entries are spread over (`stage --shard K/N` takes this N).
    shards: int = 1
    entries: list[PlannedEntry]
    problems: list[str] = Field(default_factory=list)
    throttled: list[Throttle] = Field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(e.bytes for e in self.entries)

    @property
    def tags_to_move(self) -> int:
        return sum(e.tags_to_move for e in self.entries)

    def shard(self, k: int) -> list[PlannedEntry]:
        return [e for e in self.entries if e.shard == k]

    def matrix(self) -> dict[str, list[dict[str, str]]]:
        """GitHub Actions' matrix: `{"include": [{"shard": "1/N"}, ...]}`."""
        return {"include": [{"shard": f"{k}/{self.shards}"} for k in range(1, self.shards + 1)]}

    def table(self) -> list[tuple[str, ...]]:
        """The plan as rows (a header first): what the CLI prints and the Action's job summary shows."""
        header = ("ENTRY", "SOURCE", "DIGEST", "DESTS", "TO SEND", "NEW TAGS", "MOVED TAGS", "SHARD")
        rows: list[tuple[str, ...]] = [header]
        for e in self.entries:
            rows.append(
                (
                    f"#{e.id}",
                    e.source,
                    e.digest.split(":", 1)[-1][:12],
                    str(len(e.destinations)),
                    human_size(e.bytes),
                    str(e.tags_to_move - e.tags_moving),
                    str(e.tags_moving),
                    f"{e.shard}/{self.shards}",
                )
            )
        return rows

    def summary(self) -> str:
        """One line of totals: entries, bytes to send, tags to move, problems, shards."""
        return (
            f"{len(self.entries)} entries, {human_size(self.bytes)} to send, "
            f"{self.tags_to_move} tag(s) to move, {len(self.problems)} problem(s), {self.shards} shard(s)"
        )

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def note(error: PromoteError, where: str, after: str = "") -> None:
    """Say which entry (or step) an error happened in, and what it left behind, once."""
    if getattr(error, "_release_note", False) or not error.args:
        return
    error._release_note = True  # type: ignore[attr-defined]
    error.args = (f"{where}: {error.args[0]}" + (f"; {after}" if after else ""), *error.args[1:])


def check_writable(path: str | Path, what: str) -> None:
    """Before any work: the file's directory must exist and take a write (nothing half-done later)."""
    parent = Path(path).resolve().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise UsageError(
            f"cannot write {what} {path}: {parent} is not a writable directory; nothing was done"
        )


def write_whole(path: str | Path, text: str, what: str) -> None:
    """Write a file whole or not at all: a temporary file beside it, renamed over it."""
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.resolve().parent)
    except OSError as e:
        raise UsageError(f"cannot write {what} {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise UsageError(f"cannot write {what} {path}: {e.strerror or e}") from None
        raise


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def read_plan(path: str | Path) -> PlanFile:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read plan {path}: {e.strerror or e}") from None
    try:
        plan = PlanFile.model_validate(json.loads(text))
    except (ValueError, ValidationError) as e:
        first = e.errors()[0] if isinstance(e, ValidationError) else None
        why = f"{'.'.join(map(str, first['loc']))}: {first['msg']}" if first else str(e)
        raise UsageError(f"{path} is not a plan written by `oci-promote plan` ({why})") from None
    if plan.version != PLAN_VERSION:
        raise UsageError(
            f"{path}: plan version {plan.version}; this oci-promote reads version {PLAN_VERSION}"
        )
    return plan


def parse_shard(text: str, plan: PlanFile) -> int:
    """`K/N` -> K, checked against the plan's N."""
    k, sep, n = text.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit():
        raise UsageError(f"--shard must be K/N (like 1/4), got {text!r}")
    if int(n) != plan.shards:
        raise UsageError(f"--shard {text}: the plan has {plan.shards} shard(s), not {n}")
    if not 1 <= int(k) <= plan.shards:
        raise UsageError(f"--shard {text}: K must be between 1 and {plan.shards}")
    return int(k)
