"""Bounded concurrency with cancel-on-first-error, in one place.

Jobs are callables, not coroutine objects: a job that never starts never
creates a coroutine, so nothing is left "never awaited" when a sibling fails.
The first error cancels the other jobs and is raised as itself (not wrapped in
an exception group), so callers and users see one error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import anyio

Job = Callable[[], Awaitable[None]]


async def run_all(jobs: Iterable[Job], limiter: anyio.CapacityLimiter | None = None) -> None:
    """Run `jobs` concurrently, at most `limiter`'s worth at a time; the first error wins."""
    failures: list[Exception] = []

    async def one(job: Job, scope: anyio.CancelScope) -> None:
        try:
            if limiter is None:
                await job()
            else:
                async with limiter:
                    await job()
        except Exception as e:
            if not failures:
                failures.append(e)
            scope.cancel()

    async with anyio.create_task_group() as group:
        for job in jobs:
            group.start_soon(one, job, group.cancel_scope)
    if failures:
        raise failures[0]
