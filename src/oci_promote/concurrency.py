"""Bounded concurrency with cancel-on-first-error, in one place.

Jobs are callables, not coroutine objects: a job that never starts never
creates a coroutine, so nothing is left "never awaited" when a sibling fails.
The first error cancels the other jobs and is raised as itself (not wrapped in
an exception group), so callers and users see one error. `gather` returns what
the jobs return, in the order given, so no job writes into its caller's lists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar, cast

import anyio

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
Job = Callable[[], Awaitable[None]]

#: Blobs moved at once. Over a 40 ms round trip every wave of uploads costs two or three round
#: trips, so 4 made a 14-blob image take four waves; 8 halves that and stays modest for
#: public registries (skopeo moves 6 at once, containerd 3 per host).
DEFAULT_JOBS = 8


async def gather(
    jobs: Iterable[Callable[[], Awaitable[T]]], limiter: anyio.CapacityLimiter | None = None
) -> list[T]:
    """Run `jobs` concurrently, at most `limiter`'s worth at a time; their results in the
    order given. The first error cancels the rest and is raised."""
    results: dict[int, T] = {}
    failures: list[Exception] = []

    async def one(n: int, job: Callable[[], Awaitable[T]], scope: anyio.CancelScope) -> None:
        try:
            if limiter is None:
                results[n] = await job()
            else:
                async with limiter:
                    results[n] = await job()
        except Exception as e:
            if not failures:
                failures.append(e)
            scope.cancel()

    count = 0
    async with anyio.create_task_group() as group:
        for job in jobs:
            group.start_soon(one, count, job, group.cancel_scope)
            count += 1
    if failures:
        raise failures[0]
    return [results[n] for n in range(count)]


async def run_all(
    jobs: Iterable[Callable[[], Awaitable[Any]]], limiter: anyio.CapacityLimiter | None = None
) -> None:
    """`gather` for jobs run for what they do, not for what they return."""
    await gather(jobs, limiter)


async def both(first: Callable[[], Awaitable[A]], second: Callable[[], Awaitable[B]]) -> tuple[A, B]:
    """Two jobs with results of different types, concurrently (one round trip, not two)."""
    a, b = await gather([first, second])
    return cast(A, a), cast(B, b)


async def alongside(
    work: Callable[[], Awaitable[T]], background: Callable[[], Coroutine[Any, Any, Any]]
) -> T:
    """`work`'s result, with `background` running until `work` ends (then cancelled); an error
    of `work` is raised as itself."""
    finished = anyio.Event()

    async def watched() -> T:
        try:
            return await work()
        finally:
            finished.set()

    async def beside() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(background)
            await finished.wait()
            group.cancel_scope.cancel()

    result, _ = await both(watched, beside)
    return result
