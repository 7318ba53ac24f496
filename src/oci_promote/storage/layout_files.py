"""The file-system side of writing an OCI layout: `index.json` under a lock, and errors as one line.

Several processes may write one layout at once (a CI matrix exporting tags). Each
reads `index.json`, merges its entry and writes it back by an atomic rename; without
a lock, two writers read the same old index and the later rename drops the other's
tag. An exclusive `flock` on a lock file in the layout makes the read-merge-write one
step; the loser waits. The lock file stays: removing it would let a writer that
already opened it lock a file nobody else sees.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import PromoteError

#: Lives next to index.json; tools that read layouts ignore files they don't know.
LOCK_NAME = ".oci-promote.lock"


class LayoutWriteError(PromoteError):
    """The file system refused a write to a layout (no such directory, read-only, full)."""


@contextmanager
def writing(description: str) -> Iterator[None]:
    """Turn an OSError raised while writing the layout into one line naming the path and the cause."""
    try:
        yield
    except OSError as e:
        where = e.filename if e.filename is not None else description
        raise LayoutWriteError(f"{description}: cannot write {where}: {e.strerror or e}") from None


def update_index(path: Path, change: Callable[[bytes | None], bytes | None]) -> None:
    """Give `change` the current index.json (None if absent) and write what it returns, under the lock.

    `change` returns None when nothing needs writing.
    """
    fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        index = path / "index.json"
        try:
            current: bytes | None = index.read_bytes()
        except FileNotFoundError:
            current = None
        data = change(current)
        if data is not None:
            write_atomically(index, data)
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def create_once(path: Path, data: bytes) -> None:
    """Create `path` with `data` unless it exists, in place, so a parallel writer sees no stray temp file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, rename: readers see the old or the new file."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
