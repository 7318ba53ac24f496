"""Spread planned entries over shards: entries writing to one destination repository stay
together (a blob they share is then uploaded once), and shards are balanced by bytes to send.

Groups are the connected sets of entries linked by a shared destination repository; the
largest group goes first into the lightest shard (greedy, longest-processing-time first).
`auto` makes one shard per 2 GiB to send, at most one per group and at most 256 (GitHub's
matrix limit).
"""

from __future__ import annotations

import math

from ..errors import UsageError
from .model import PlannedEntry

MAX_SHARDS = 256
#: What `--shards auto` aims to give each shard to send.
AUTO_BYTES = 2 * 1024**3


def groups(entries: list[PlannedEntry]) -> list[list[PlannedEntry]]:
    """Entries linked by any shared destination repository, in first-seen order."""
    parent = list(range(len(entries)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, entry in enumerate(entries):
        for repo in entry.repositories():
            if repo in owner:
                parent[find(i)] = find(owner[repo])
            else:
                owner[repo] = i
    out: dict[int, list[PlannedEntry]] = {}
    for i, entry in enumerate(entries):
        out.setdefault(find(i), []).append(entry)
    return list(out.values())


def shard_count(text: int | str, groups_found: int, total_bytes: int) -> int:
    """`--shards N` or `auto`; never more shards than groups (an empty shard does nothing)."""
    if isinstance(text, str) and text.strip() == "auto":
        wanted = max(1, math.ceil(total_bytes / AUTO_BYTES))
    else:
        try:
            wanted = int(text)
        except ValueError:
            raise UsageError(
                f"--shards must be a number from 1 to {MAX_SHARDS} or 'auto', got {text!r}"
            ) from None
        if not 1 <= wanted <= MAX_SHARDS:
            raise UsageError(f"--shards must be from 1 to {MAX_SHARDS}, got {wanted}")
    return max(1, min(wanted, groups_found, MAX_SHARDS))


def assign_shards(entries: list[PlannedEntry], shards: int | str) -> int:
    """Set every entry's `shard` (1-based); returns the number of shards used."""
    found = groups(entries)
    count = shard_count(shards, len(found), sum(e.bytes for e in entries))
    loads = [0] * count
    # heaviest first; entries of the same weight keep the file's order
    for group in sorted(found, key=lambda g: -sum(e.bytes + 1 for e in g)):
        k = min(range(count), key=lambda n: (loads[n], n))
        loads[k] += sum(e.bytes + 1 for e in group)
        for entry in group:
            entry.shard = k + 1
    return count
