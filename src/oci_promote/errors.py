"""One exception tree, so callers catch what they can act on.

Every error carries the facts a user needs to fix the problem (reference,
registry, HTTP status, registry error codes) and renders as one line.

    PromoteError                      exit 1 unless stated
    ├── UsageError                    exit 2: the input itself is wrong
    │   ├── InvalidReferenceError     a reference that breaks the grammar
    │   ├── InvalidDigestError        a digest that is malformed or of an unknown algorithm
    │   └── CredentialsError          credentials that cannot be read or parsed
    ├── RegistryError                 the registry said no (status, error codes)
    │   ├── AuthenticationError       401: missing or wrong credentials
    │   ├── AuthorizationError        403: authenticated, but not allowed
    │   ├── NotFoundError             404: unknown repository, manifest or blob
    │   └── TransportError            no usable answer: connection, TLS, timeout
    ├── DigestMismatchError           bytes or a registry disagree with the digest asked for
    ├── ProtectedTagError             a protected destination tag would move to another digest
    ├── ManifestError                 a manifest we refuse to copy (schema 1, too large, malformed)
    ├── IncompleteSourceError         the source lacks a child manifest or blob it references
    └── ReferrersError                signatures, attestations, SBOMs stop the copy
        ├── MissingReferrersError     --require-referrer: none of that type at the source
        ├── DigestTagConflictError    a destination digest tag holds content we cannot merge
        ├── ReferrersIndexConflictError  a tag schema index kept changing under us
        └── ReferrersListingError     a tag list or referrers index that cannot be read
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .causes import Cause, Comparison


class PromoteError(Exception):
    """Base of every error oci-promote raises on purpose.

    A copy that fails says so in fields as well as in its message: `destination`, the
    destination it failed at (None: the source, or before any destination), and
    `tags_moved`, the destinations whose tag had already moved (the CLI's `--json`, the
    Action and library callers read these, never the message).
    """

    exit_code = 1
    #: Set once a retry loop has given up on this error, so no outer loop retries it again.
    final = False
    destination: str | None = None
    tags_moved: tuple[str, ...] = ()
    #: The source's error, though raised in a destination's work (a blob read for it):
    #: `at_destination` then names the source and leaves `destination` None.
    from_source = False
    _placed = False

    def at_destination(self, label: str, after: str = "") -> None:
        """Name the destination the error happened at, and what the failure left behind (once)."""
        if self._placed or not self.args:
            return
        self._placed = True
        if not self.from_source:
            self.destination = label
        where = "source" if self.from_source else f"destination {label}"
        self.args = (f"{where}: {self.args[0]}" + (f"; {after}" if after else ""), *self.args[1:])


class UsageError(PromoteError):
    """The user's input is wrong; nothing was sent anywhere."""

    exit_code = 2


class InvalidReferenceError(UsageError):
    def __init__(self, reference: str, reason: str) -> None:
        self.reference = reference
        self.reason = reason
        super().__init__(f"invalid reference {reference!r}: {reason}")


class InvalidDigestError(UsageError):
    def __init__(self, digest: str, reason: str) -> None:
        self.digest = digest
        self.reason = reason
        super().__init__(f"invalid digest {digest!r}: {reason}")


class CredentialsError(UsageError):
    """Credentials that cannot be used; the message never includes a secret."""


@dataclass(frozen=True)
class RegistryErrorDetail:
    """One entry of the registry's `errors` array (code, message)."""

    code: str
    message: str


class RegistryError(PromoteError):
    """A registry answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        registry: str = "",
        status: int | None = None,
        details: Sequence[RegistryErrorDetail] = (),
        retry_after: str | None = None,
    ) -> None:
        self.registry = registry
        self.status = status
        #: The registry's Retry-After header, when it sent one (429, 503).
        self.retry_after = retry_after
        self.details = tuple(details)
        self.codes = tuple(d.code for d in self.details)
        super().__init__(message)


class AuthenticationError(RegistryError):
    """401, or a token service that said no; `credentials_sent` tells missing from refused."""

    def __init__(self, message: str, *, credentials_sent: bool = False, **facts: Any) -> None:
        self.credentials_sent = credentials_sent
        super().__init__(message, **facts)


class AuthorizationError(RegistryError):
    pass


class NotFoundError(RegistryError):
    pass


class TransportError(RegistryError):
    """The registry could not be reached or gave no usable answer.

    `retryable` is False for faults that never heal by themselves (an untrusted
    certificate, plain HTTP on a TLS port): they fail at once.
    """

    def __init__(self, message: str, *, retryable: bool = True, **facts: Any) -> None:
        self.retryable = retryable
        super().__init__(message, **facts)


class ExplainedError(PromoteError):
    """An error about two digests that carries why they differ, when that could be told.

    `comparison` is the forensics' answer (A = the digest wanted, B = the one found);
    front ends show its causes (the Action's annotation and job summary).
    """

    comparison: Comparison | None = None

    @property
    def causes(self) -> tuple[Cause, ...]:
        return self.comparison.causes if self.comparison is not None else ()


class DigestMismatchError(ExplainedError):
    def __init__(
        self, message: str, *, expected: str, got: str, comparison: Comparison | None = None
    ) -> None:
        self.expected = expected
        self.got = got
        self.comparison = comparison
        super().__init__(message)


class ProtectedTagError(ExplainedError):
    """A tag matching --protect already holds another digest; nothing was written anywhere."""

    def __init__(
        self, message: str, *, tag: str, current: str, new: str, comparison: Comparison | None = None
    ) -> None:
        self.tag = tag
        self.current = current
        self.new = new
        self.comparison = comparison
        super().__init__(message)


class ManifestError(PromoteError):
    pass


class IncompleteSourceError(PromoteError):
    def __init__(self, message: str, *, missing: str) -> None:
        self.missing = missing
        super().__init__(message)


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
