"""The retry policy, and the one loop that applies it.

Every retry in the product goes through `Attempts.failed`: a single request
(the transport stack), a resumed download and an upload restarted from a new
session. An error that has been through a loop and given up is marked final,
so an outer operation never retries it again: a request is attempted at most
`attempts` times, whoever calls it (plus up to `attempts - 1` answers of 429
waited out, and afresh after an attempt that moved bytes).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

import anyio

from ..errors import PromoteError, RegistryError, TransportError

log = logging.getLogger("oci_promote")

#: Statuses that say "not now": worth another attempt after a pause.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
T = TypeVar("T")


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter, bounded per request and across a whole copy.

    One policy object is shared by every client of a copy, so `budget` caps
    the retries the copy spends in total: a registry that keeps failing ends
    the copy with a clear error instead of retrying forever.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_retry_after: float = 60.0
    budget: int = 100
    spent: int = 0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        hinted = parse_retry_after(retry_after) if retry_after else None
        if hinted is not None:
            return min(hinted, self.max_retry_after)
        return min(self.max_delay, self.base_delay * 2.0**attempt) * (0.5 + random.random() / 2)

    def may_retry(self, attempt: int, *, spend: bool = True) -> bool:
        """True (and, with `spend`, one retry spent) if attempt number `attempt` may be followed
        by another."""
        if attempt + 1 >= self.attempts or (spend and self.spent >= self.budget):
            return False
        if spend:
            self.spent += 1
        return True

    async def pause(self, attempt: int, retry_after: str | None = None) -> None:
        await anyio.sleep(self.delay(attempt, retry_after))

    def start(self, what: str) -> Attempts:
        """The attempts of one operation (one request, one download, one upload)."""
        return Attempts(self, what)

    async def run(
        self, operation: Callable[[], Awaitable[T]], what: str, attempts: Attempts | None = None
    ) -> T:
        """Run an operation that can be started over, again after each retryable failure.

        `attempts` carries the count over from earlier runs of the same request within
        one operation (the POST that opens each new session of one blob upload).
        """
        attempts = attempts or self.start(what)
        while True:
            try:
                return await operation()
            except PromoteError as e:
                await attempts.failed(e)


class Attempts:
    """Counts one operation's attempts; the only place that decides to try again."""

    def __init__(self, policy: RetryPolicy, what: str) -> None:
        self.policy = policy
        self.what = what
        #: Attempts that failed without moving a byte, since the last one that did.
        self.number = 0
        #: 429s waited out without counting as attempts.
        self.throttled = 0

    async def failed(self, error: PromoteError, *, moved: bool = False) -> None:
        """Pause before the next attempt, or raise `error` (marked final) when there is none.

        An attempt that `moved` bytes for good (a download or upload that resumes where it
        broke) starts the count again and spends nothing of the copy's budget: the resumed
        attempt is the first of a fresh `attempts`, so a link that drops every connection after
        N bytes still gets a big blob through, while one that fails without moving a byte stops
        after `attempts`. A 429 says "later", not "broken": up to `attempts - 1` of them per
        operation are waited out (Retry-After, else the backoff) without counting as attempts,
        though each spends one retry of the copy's budget; past that they count like any fault.
        """
        if moved:
            self.number = 0
        throttled = not moved and self._may_wait_out(error)
        counted = not moved and not throttled
        if not is_retryable(error) or not self.policy.may_retry(
            self.number if counted else 0, spend=not moved
        ):
            error.final = True
            raise error
        log.debug("%s: attempt %d failed (%s); trying again", self.what, self.number + 1, error)
        await self.policy.pause(self.number + self.throttled, getattr(error, "retry_after", None))
        if throttled:
            self.throttled += 1
        elif counted:
            self.number += 1

    def _may_wait_out(self, error: PromoteError) -> bool:
        return (
            isinstance(error, RegistryError)
            and error.status == 429
            and self.throttled + 1 < self.policy.attempts
        )


def is_retryable(error: BaseException) -> bool:
    """Errors worth another attempt: no answer, or a status that says 'later'; never a final one."""
    if getattr(error, "final", False):
        return False
    if isinstance(error, TransportError):
        return error.retryable
    return isinstance(error, RegistryError) and error.status in RETRY_STATUSES


def parse_retry_after(value: str) -> float | None:
    """Retry-After is either delta-seconds or an HTTP-date."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
