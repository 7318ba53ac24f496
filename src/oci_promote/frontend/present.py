"""Presentation shared by the CLI and the Action: sizes, summary lines, progress from events.

The engine reports facts (results, events); how they read to a person lives here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..events import (
    BlobDone,
    BlobProgress,
    DestinationPlanned,
    Event,
    PhaseEntered,
    SourceResolved,
)
from ..result import CopyResult, DestinationResult

if TYPE_CHECKING:
    from ..release import ReleaseProgress


def human_size(n: int) -> str:
    """Bytes in decimal units, as registries and CI logs show them."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def summary_line(dest: DestinationResult, dry_run: bool) -> str:
    """One human line: what a dry run would send, or what the copy did."""
    if dry_run:
        state = "up to date" if dest.up_to_date else f"would send {dest.blobs_missing} blob(s)"
        size = human_size(dest.bytes_missing)
        line = f"{dest.reference}: {state} ({size}), {dest.blobs_skipped} already there"
        return line + _referrers_note(dest, "would carry")
    # Several tags of one repository share a pinned reference: name the tag too.
    named = dest.reference != dest.pinned.partition("@")[0] and "@" not in dest.reference
    name = f"{dest.reference}@{dest.digest}" if named else dest.pinned
    return (
        f"{name}: {dest.blobs_copied} blob(s) copied, {dest.blobs_mounted} mounted, "
        f"{dest.blobs_skipped} skipped, {human_size(dest.bytes_copied)}, {dest.seconds:.2f} s"
    ) + _referrers_note(dest, "carried")


def referrers_found_line(result: CopyResult, types: Sequence[str]) -> str | None:
    """`referrers: 3 found at the source, 0 kept (--referrer-type …)`; None when there is nothing to say."""
    if not result.referrers_found and not types:
        return None
    kept = f"{result.referrers_kept} kept" + (f" (--referrer-type {', '.join(types)})" if types else "")
    return f"referrers: {result.referrers_found} found at the source, {kept}"


def _referrers_note(dest: DestinationResult, verb: str) -> str:
    """`; referrers: 2 carried, 1 already there` (nothing when the image has none)."""
    if not dest.referrers:
        return ""
    return f"; referrers: {dest.referrers_copied} {verb}, {dest.referrers_present} already there"


@dataclass
class Progress:
    """What the events said so far: per-destination counts, and bytes of blobs in flight."""

    phase: str = ""
    digest: str = ""
    destinations: dict[str, DestinationResult] = field(default_factory=dict)
    _in_flight: dict[tuple[str, str], int] = field(default_factory=dict)

    def __call__(self, event: Event) -> None:
        if isinstance(event, PhaseEntered):
            self.phase = event.phase
            for label in event.destinations:
                self.destinations.setdefault(label, DestinationResult(label, "", "", None))
        elif isinstance(event, SourceResolved):
            self.digest = event.digest
        elif isinstance(event, DestinationPlanned):
            row = self.destinations.setdefault(
                event.destination, DestinationResult(event.destination, "", "", None)
            )
            row.pinned, row.digest, row.up_to_date = event.pinned, self.digest, event.up_to_date
            row.blobs_missing, row.bytes_missing = event.blobs_missing, event.bytes_missing
            row.blobs_skipped = event.blobs_skipped
        elif isinstance(event, BlobProgress):
            self._in_flight[(event.destination, event.digest)] = event.sent
        elif isinstance(event, BlobDone):
            self._in_flight.pop((event.destination, event.digest), None)
            done = self.destinations.get(event.destination)
            if done is not None:
                if event.how == "mounted":
                    done.blobs_mounted += 1
                else:
                    done.blobs_copied += 1
                    done.bytes_copied += event.size

    @property
    def bytes_in_flight(self) -> int:
        return sum(self._in_flight.values())

    def in_flight_at(self, destination: str) -> int:
        """Bytes of one destination's blobs not finished yet (for a per-destination display)."""
        return sum(sent for (label, _), sent in self._in_flight.items() if label == destination)

    def line(self, seconds: float) -> str | None:
        """`copying: 3 of 8 blobs, 12.0 MB of 80.5 MB (14%), 20 s`, or None with nothing to move."""
        return progress_line(list(self.destinations.values()), seconds, self.bytes_in_flight)


def progress_line(results: Sequence[DestinationResult], seconds: float, in_flight: int = 0) -> str | None:
    """The progress line for these counts; `in_flight` is bytes of blobs not finished yet."""
    total = sum(r.blobs_missing for r in results if not r.up_to_date)
    total_bytes = sum(r.bytes_missing for r in results if not r.up_to_date)
    if total == 0:
        return None
    done = sum(r.blobs_copied + r.blobs_mounted for r in results)
    sent = sum(r.bytes_copied for r in results) + in_flight
    percent = f" ({100 * sent // total_bytes}%)" if total_bytes else ""
    return (
        f"copying: {done} of {plural(total, 'blob')}, {human_size(sent)} of {human_size(total_bytes)}"
        f"{percent}, {seconds:.0f} s"
    )


class StageProgressLog:
    """A release's staging as log lines (CLI and Action): one per entry when there are at
    most `rows` entries, else one every tenth of them."""

    def __init__(self, rows: int = 20) -> None:
        self.rows = rows
        self.step = 0

    def __call__(self, p: ReleaseProgress) -> None:
        from ..release.model import human_size  # binary units, as the plan's table shows sizes

        if p.phase == "commit":
            return
        sent = f"{human_size(p.bytes_done)} of {human_size(p.bytes_total)} sent"
        if p.entries_total <= self.rows and p.entry:
            logging.getLogger("oci_promote").info(
                "[%d/%d] staged %s (%s)", p.entries_done, p.entries_total, p.entry, sent
            )
            return
        step = p.entries_done * 10 // max(1, p.entries_total)
        if step > self.step or p.entries_done == p.entries_total:
            self.step = step
            logging.getLogger("oci_promote").info(
                "staged %d/%d entries, %s", p.entries_done, p.entries_total, sent
            )
