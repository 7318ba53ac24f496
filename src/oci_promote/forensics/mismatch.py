"""Why a digest the copy checks is not the one wanted, said in the error that stops the copy.

The copy checks digests in three places: `--expected-digest`, a protected tag
that would move, and what a destination serves after the push. Each names the
causes between the two images with the headline `diff` prints, and hands the
`Comparison` to the error so front ends can show every cause. When the other
image cannot be read, a short clause says so and the error stays one line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..causes import Comparison
from ..errors import IncompleteSourceError, NotFoundError, PromoteError
from ..storage.source import Source
from .compare import explain
from .reader import SourceReader
from .render import headline

log = logging.getLogger("oci_promote")
MISSING = (NotFoundError, IncompleteSourceError)


@dataclass(frozen=True)
class Why:
    """The causes between two images (A = wanted, B = found), or why they cannot be told."""

    comparison: Comparison | None
    #: Ends the error's line: the roles of A and B and the headline, or the reason there is none.
    clause: str


async def explain_mismatch(wanted: Source, found: Source, roles: str, wanted_name: str) -> Why:
    """Explain `found` against `wanted`; `roles` says what A and B are, `wanted_name` what A is."""
    a, b = SourceReader(wanted), SourceReader(found)
    try:
        await a.top()
    except MISSING as e:
        log.info("cannot read %s to explain the mismatch: %s", wanted.description, e)
        return Why(None, f"{wanted_name} cannot be read there, so the causes cannot be told")
    try:
        comparison = await explain(a, b)
    except PromoteError as e:
        log.info("cannot explain the mismatch: %s", e)
        return Why(None, "the causes cannot be told (one image cannot be read whole)")
    return Why(comparison, f"why ({roles}): {headline(comparison)}")
