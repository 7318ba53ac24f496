"""A blob's bytes as a stream: how one is opened again, and how one is let go of."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

#: Opens the blob's bytes from the start; called again when an upload restarts.
BodyFactory = Callable[[], AsyncIterator[bytes]]


async def close_body(body: AsyncIterator[bytes]) -> None:
    """Release a stream (its connection or file) now; a plain iterator has nothing to release."""
    close = getattr(body, "aclose", None)
    if close is not None:
        await close()
