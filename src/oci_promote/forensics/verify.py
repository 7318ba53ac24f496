"""`verify`: does every reference resolve to the expected digest, and if not, why not.

Read-only by construction: it goes through `SourceReader`, which has no write
method. A mismatch is explained against the expected digest read from the same
repository (or layout), when that digest can be read there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..causes import Comparison
from ..concurrency import gather
from ..errors import IncompleteSourceError, NotFoundError
from .compare import explain
from .reader import DEFAULT_LIMITS, Limits, SourceReader
from .render import describe_cause, headline

_MISSING = (NotFoundError, IncompleteSourceError)


@dataclass(frozen=True)
class VerifyOutcome:
    """One reference checked: what it resolves to, and the causes when that is not the digest."""

    reference: str
    expected: str
    #: What the reference resolves to; None when it does not resolve at all.
    digest: str | None
    comparison: Comparison | None = None
    #: Why no causes are given, when none can be.
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.digest == self.expected

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reference": self.reference, "digest": self.digest, "ok": self.ok}
        if self.comparison is not None:
            out["causes"] = [cause.to_dict() for cause in self.comparison.causes]
        if self.note is not None:
            out["note"] = self.note
        return out

    def describe(self) -> str:
        if self.ok:
            return f"{self.reference}: ok ({self.expected})"
        if self.digest is None:
            return f"{self.reference}: {self.note}"
        lines = [f"{self.reference}: is {self.digest}, not {self.expected}"]
        if self.comparison is not None:
            lines.append(f"  A = {self.expected}, B = {self.reference}: {headline(self.comparison)}")
            lines.extend(f"  - {describe_cause(cause)}" for cause in self.comparison.causes)
        elif self.note:
            lines.append(f"  {self.note}")
        return "\n".join(lines)


async def verify_one(
    reader: SourceReader, wanted: SourceReader, *, limits: Limits = DEFAULT_LIMITS
) -> VerifyOutcome:
    """Check one reference against `wanted` (the expected digest, read beside it: the same
    repository or layout); explain a mismatch."""
    expected = wanted.source.digest
    assert expected is not None
    try:
        top = await reader.top()
    except _MISSING as e:
        return VerifyOutcome(reader.description, str(expected), None, note=f"does not resolve ({e})")
    if top.digest == expected:
        return VerifyOutcome(reader.description, str(expected), str(top.digest))
    try:
        await wanted.top()
    except _MISSING:
        note = f"{expected} cannot be read beside it, so the causes cannot be told"
        return VerifyOutcome(reader.description, str(expected), str(top.digest), note=note)
    comparison = await explain(wanted, reader, limits=limits)
    return VerifyOutcome(reader.description, str(expected), str(top.digest), comparison)


async def verify_all(
    pairs: Sequence[tuple[SourceReader, SourceReader]], *, limits: Limits = DEFAULT_LIMITS
) -> list[VerifyOutcome]:
    """Every (reference, expected beside it) checked concurrently; the outcomes in the order given."""
    return await gather(partial(verify_one, found, wanted, limits=limits) for found, wanted in pairs)
