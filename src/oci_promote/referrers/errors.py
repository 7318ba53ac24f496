"""Errors of the referrers work; each renders as one line a user can act on.

They derive from the project's PromoteError (exit 1); the lead may move them into
``oci_promote.errors`` when referrers are wired into the copy.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import PromoteError


class ReferrersError(PromoteError):
    """Something about referrers stops the copy."""


class MissingReferrersError(ReferrersError):
    """``--require-referrer TYPE``: the source image has no referrer of that type."""

    def __init__(self, image: str, missing: Sequence[str], found: Sequence[str]) -> None:
        self.image = image
        self.missing = tuple(missing)
        self.found = tuple(found)
        have = ", ".join(found) if found else "none"
        super().__init__(
            f"{image} has no referrer of type {', '.join(missing)} (found: {have}); nothing was copied"
        )


class DigestTagConflictError(ReferrersError):
    """The destination holds a digest tag (e.g. ``.sbom``) with other content we cannot merge."""

    def __init__(self, tag: str, reason: str) -> None:
        self.tag = tag
        self.reason = reason
        super().__init__(
            f"destination tag {tag!r} already holds other content ({reason}); refusing to "
            "overwrite it; delete or rename that tag at the destination, then run again"
        )


class ReferrersIndexConflictError(ReferrersError):
    """The fallback index kept changing under us (another writer) beyond the retry bound."""

    def __init__(self, tag: str, attempts: int) -> None:
        self.tag = tag
        self.attempts = attempts
        super().__init__(
            f"referrers index tag {tag!r} changed under us {attempts} times while we merged into it "
            "(another client writes it at the same time); run again"
        )


class ReferrersListingError(ReferrersError):
    """A tag list or referrers index that cannot be read."""
