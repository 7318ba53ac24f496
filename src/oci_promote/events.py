"""What the engine reports while it works: typed events, passed to one callback.

The engine never prints. The CLI and the Action turn these into log lines, a
progress display, log groups and a job summary; a library caller may ignore them.
Destinations are named by their label (`host/repo:tag`, or `host/repo` for a
destination pinned by digest), as in results and error messages.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Phase = Literal["resolve", "copy", "verify"]
BlobHow = Literal["copied", "mounted"]


@dataclass(frozen=True)
class PhaseEntered:
    """The copy moved on: resolve the source, copy (plan, then write), verify."""

    phase: Phase
    #: Every destination's label, in the order given.
    destinations: tuple[str, ...]


@dataclass(frozen=True)
class SourceResolved:
    source: str
    digest: str
    media_type: str


@dataclass(frozen=True)
class DestinationPlanned:
    """What a destination lacks (what a dry run would send); nothing was written yet."""

    destination: str
    pinned: str
    up_to_date: bool
    blobs_missing: int
    bytes_missing: int
    blobs_skipped: int


@dataclass(frozen=True)
class BlobStarted:
    destination: str
    digest: str
    size: int


@dataclass(frozen=True)
class BlobProgress:
    """Bytes of one blob sent so far; a retried upload starts again from 0."""

    destination: str
    digest: str
    sent: int
    size: int


@dataclass(frozen=True)
class BlobDone:
    destination: str
    digest: str
    size: int
    how: BlobHow


@dataclass(frozen=True)
class ManifestPushed:
    destination: str
    digest: str
    #: The tag or digest it was pushed under.
    target: str
    is_index: bool


@dataclass(frozen=True)
class TagMoved:
    destination: str
    tag: str
    digest: str


Event = (
    PhaseEntered
    | SourceResolved
    | DestinationPlanned
    | BlobStarted
    | BlobProgress
    | BlobDone
    | ManifestPushed
    | TagMoved
)
EventCallback = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The callback of a caller that wants no events."""


def plain_callback(on_event: EventCallback | None) -> EventCallback:
    """`on_event`, refused if it is a coroutine function: the engine calls it and never awaits,
    so an `async def` callback would get no event and leave "never awaited" warnings."""
    if on_event is None:
        return ignore
    call = type(on_event).__call__  # an object with an `async def __call__`
    if inspect.iscoroutinefunction(on_event) or inspect.iscoroutinefunction(call):
        raise TypeError(
            f"on_event must be a plain function, not a coroutine function ({on_event!r}); "
            "to await work per event, put the events on an asyncio.Queue from a plain function"
        )
    return on_event
