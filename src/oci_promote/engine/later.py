"""A value that one task produces and others wait for (a one-shot future for anyio tasks)."""

from __future__ import annotations

from typing import Generic, TypeVar

import anyio

T = TypeVar("T")


class Later(Generic[T]):
    """Set once; `get` waits until then. If the producer fails, its task group cancels the waiters."""

    def __init__(self) -> None:
        self._ready = anyio.Event()
        self._value: T | None = None

    def set(self, value: T) -> None:
        self._value = value
        self._ready.set()

    async def get(self) -> T:
        await self._ready.wait()
        return self._value  # type: ignore[return-value]
