"""The lock file: written by `commit`, read by the deploy step (`export`) and the gate (`verify`).

`{"version": 1, "images": [{"source", "digest", "destinations": [{"reference", "pinned"}],
"referrers": [...]}]}`. It is written whole or not at all (a temporary file renamed), and it
can be the next hop's promotion file (`file.lock_as_promotion`).

Export forms, one line of thought each:

- `kustomize`: an `images:` list (name, newName, digest), one item per destination
  repository; `name` is that repository, so manifests naming it by tag get pinned.
- `helm`: `images: {KEY: {repository, tag, digest}}` values, KEY the repository's last path
  component (its whole path when two would clash).
- `env`: `KEY=REF` lines, KEY the repository path upper-cased (`ACME_API`), REF pinned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError

from ..errors import UsageError
from ..forensics import SourceReader, verify_all
from ..forensics.verify import VerifyOutcome
from ..storage.source import at_digest, image_source
from ..types.digest import parse_digest
from ..types.location import parse_location
from ..types.reference import Reference, parse_reference
from .file import LockFile
from .model import write_whole
from .session import Session

FORMATS = ("kustomize", "helm", "env")


def lock_json(lock: LockFile) -> str:
    return json.dumps(lock.model_dump(exclude={"defaults"}), indent=2) + "\n"


def write_lock(lock: LockFile, path: str | Path) -> None:
    """Write the lock whole or not at all (a temporary file beside it, renamed)."""
    write_whole(path, lock_json(lock), "the lock")


def read_lock(path: str | Path) -> LockFile:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"cannot read lock {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise UsageError(f"{path} is not JSON: {e}") from None
    try:
        return LockFile.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"{path} is not a lock file ({where}: {first['msg']})") from None


def _repositories(lock: LockFile) -> list[tuple[Reference, str, str | None]]:
    """(destination repository, digest, first tag) for each distinct destination repository."""
    out: dict[str, tuple[Reference, str, str | None]] = {}
    for image in lock.images:
        for d in image.destinations:
            ref = parse_reference(d.reference, default_tag=None)
            key = f"{ref.name}@{image.digest}"
            if key not in out:
                out[key] = (ref, image.digest, ref.tag)
    return list(out.values())


def _keys(refs: Sequence[Reference], *, upper: bool) -> list[str]:
    """A short key per repository (last path component), the full name where two would clash."""
    short = [r.repository.rsplit("/", 1)[-1] for r in refs]
    full = [r.repository for r in refs]
    keys = [s if short.count(s) == 1 else f for s, f in zip(short, full, strict=True)]
    keys = [k if keys.count(k) == 1 else r.name for k, r in zip(keys, refs, strict=True)]
    clean = [re.sub(r"[^A-Za-z0-9]+", "_" if upper else "-", k).strip("_-") for k in keys]
    return [k.upper() for k in clean] if upper else clean


def export_lock(lock: LockFile, fmt: str) -> str:
    """The lock as a kustomize `images:` list, Helm-style values, or `KEY=REF` lines."""
    repos = _repositories(lock)
    if fmt == "kustomize":
        items = [{"name": r.name, "newName": r.name, "digest": digest} for r, digest, _ in repos]
        return yaml.safe_dump({"images": items}, sort_keys=False)
    if fmt == "helm":
        values = {
            key: {"repository": r.name, "tag": tag or "", "digest": digest}
            for key, (r, digest, tag) in zip(_keys([r for r, _, _ in repos], upper=False), repos, strict=True)
        }
        return yaml.safe_dump({"images": values}, sort_keys=False)
    if fmt == "env":
        keys = _keys([r for r, _, _ in repos], upper=True)
        return "".join(f"{k}={r.name}@{digest}\n" for k, (r, digest, _) in zip(keys, repos, strict=True))
    raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")


async def verify_locked(lock: LockFile, session: Session) -> list[VerifyOutcome]:
    """Every destination reference of the lock must still give its digest; causes when not."""
    pairs = []
    for image in lock.images:
        expected = parse_digest(image.digest)
        for d in image.destinations:
            ref = parse_reference(d.reference, default_tag=None)
            location = parse_location(str(ref) if ref.tag else d.pinned)
            storage = session.connections.source(location, session.destination_credential)
            wanted = SourceReader(at_digest(storage, expected, location.name))
            pairs.append((SourceReader(image_source(location, storage)), wanted))
    return await verify_all(pairs)
