"""Digests: the value people pin, and hashers that verify bytes while they stream.

A digest is `algorithm:encoded`. Only algorithms we can compute are accepted,
so every digest we are given can be checked against the bytes we move.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from ..errors import DigestMismatchError, InvalidDigestError

_ENCODED = {
    "sha256": re.compile(r"[a-f0-9]{64}"),
    "sha512": re.compile(r"[a-f0-9]{128}"),
}
_ALGORITHM_GRAMMAR = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*")


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


@dataclass(frozen=True, order=True)
class Digest:
    algorithm: str
    encoded: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    @property
    def short(self) -> str:
        """The first 12 hex characters, for human-facing logs."""
        return f"{self.algorithm}:{self.encoded[:12]}"


def parse_digest(text: str) -> Digest:
    """Parse and validate `algorithm:encoded`; raise InvalidDigestError with the reason."""
    algorithm, sep, encoded = text.partition(":")
    if not sep:
        raise InvalidDigestError(text, "expected ALGORITHM:HEX, e.g. sha256:<64 hex characters>")
    if not _ALGORITHM_GRAMMAR.fullmatch(algorithm):
        raise InvalidDigestError(text, f"malformed algorithm {algorithm!r}")
    pattern = _ENCODED.get(algorithm)
    if pattern is None:
        raise InvalidDigestError(
            text, f"unsupported algorithm {algorithm!r} (supported: {', '.join(_ENCODED)})"
        )
    if not pattern.fullmatch(encoded):
        expected_len = 64 if algorithm == "sha256" else 128
        raise InvalidDigestError(text, f"{algorithm} needs {expected_len} lowercase hex characters")
    return Digest(algorithm, encoded)


def compute(data: bytes, algorithm: str = "sha256") -> Digest:
    return Digest(algorithm, hashlib.new(algorithm, data).hexdigest())


class DigestVerifier:
    """Hash bytes as they pass and check size and digest at the end."""

    def __init__(self, expected: Digest, expected_size: int | None = None) -> None:
        self.expected = expected
        self.expected_size = expected_size
        self.size = 0
        self._hash: _Hash = hashlib.new(expected.algorithm)

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.expected_size is not None and self.size > self.expected_size:
            raise DigestMismatchError(
                f"blob {self.expected} is larger than its descriptor's {self.expected_size} bytes",
                expected=str(self.expected),
                got=f"more than {self.expected_size} bytes",
            )
        self._hash.update(chunk)

    def actual(self) -> Digest:
        return Digest(self.expected.algorithm, self._hash.hexdigest())

    def verify(self, what: str = "content") -> None:
        """Raise DigestMismatchError unless the bytes seen match size and digest."""
        if self.expected_size is not None and self.size != self.expected_size:
            raise DigestMismatchError(
                f"{what} {self.expected}: got {self.size} bytes, descriptor says {self.expected_size}",
                expected=str(self.expected),
                got=f"{self.size} bytes",
            )
        actual = self.actual()
        if actual != self.expected:
            raise DigestMismatchError(
                f"{what} does not match its digest: expected {self.expected}, got {actual}",
                expected=str(self.expected),
                got=str(actual),
            )
