"""The one concurrency runner: results in the order given, the first error as itself, the
rest cancelled; and a background job beside a piece of work."""

from __future__ import annotations

from functools import partial

import anyio
import pytest

from oci_promote.concurrency import alongside, both, gather
from oci_promote.errors import PromoteError


async def _after(delay: float, value: int) -> int:
    await anyio.sleep(delay)
    return value


def test_gather_returns_results_in_the_order_given_not_of_completion() -> None:
    jobs = [partial(_after, 0.03, 1), partial(_after, 0.0, 2), partial(_after, 0.01, 3)]
    assert anyio.run(gather, jobs) == [1, 2, 3]
    assert anyio.run(gather, []) == []


def test_gather_respects_the_limiter() -> None:
    running, most = 0, 0

    async def job(n: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await anyio.sleep(0.01)
        running -= 1
        return n

    async def main() -> list[int]:
        return await gather((partial(job, n) for n in range(6)), anyio.CapacityLimiter(2))

    assert anyio.run(main) == list(range(6)) and most == 2


def test_the_first_error_is_raised_as_itself_and_cancels_the_rest() -> None:
    finished: list[str] = []

    async def slow() -> int:
        await anyio.sleep(5)
        finished.append("slow")
        return 0

    async def failing() -> int:
        raise PromoteError("refused")

    with pytest.raises(PromoteError, match="refused"):  # not an ExceptionGroup
        anyio.run(gather, [slow, failing])
    assert finished == []


def test_both_keeps_each_result_type() -> None:
    async def text() -> str:
        return "a"

    assert anyio.run(both, text, partial(_after, 0.0, 1)) == ("a", 1)


def test_alongside_stops_the_background_when_the_work_ends_and_raises_its_error() -> None:
    ticks: list[int] = []

    async def ticker() -> None:
        while True:
            ticks.append(1)
            await anyio.sleep(0.005)

    assert anyio.run(alongside, partial(_after, 0.05, 7), ticker) == 7
    assert ticks  # it ran while the work did

    async def failing() -> int:
        await anyio.sleep(0.01)
        raise PromoteError("copy failed")

    with pytest.raises(PromoteError, match="copy failed"):
        anyio.run(alongside, failing, ticker)
