"""A string that never shows itself: passwords, tokens and `USER:PASSWORD` pairs.

`str()`, `repr()` and f-strings print a mask, so a secret inside a dataclass, a log
line or an error message stays hidden; only `get_secret_value()` gives the text, and
only code that sends it to its registry calls that. The library's own type, standard
library only: the front ends' settings hold pydantic's `SecretStr` and hand the library a
`Secret`, so `import oci_promote` and the CLI's `--help` load no validation framework.
"""

from __future__ import annotations

MASK = "**********"


class Secret:
    """The text of a secret, hidden from `str`, `repr` and formatting."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a Secret holds text, not {type(value).__name__}")
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK if self._value else ""

    def __repr__(self) -> str:
        return f"Secret('{self}')"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
