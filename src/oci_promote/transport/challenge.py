"""`WWW-Authenticate` parsing (RFC 7235), tolerant of what registries really send.

The header comes from a server we do not control, so parsing never raises. It
returns every challenge that parsed completely and stops at the first malformed
one, so a half-read challenge can never send credentials to the wrong realm.

    challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param = token BWS "=" BWS ( token / quoted-string )
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# token68 only counts when it is all that follows the scheme, up to a comma or the end.
_TOKEN68 = re.compile(r"[0-9A-Za-z._~+/-]+=*(?=[ \t]*(?:,|\Z))")
_SPACES = re.compile(r"[ \t]+")
_SEPARATORS = re.compile(r"[ \t,]+")


@dataclass(frozen=True)
class Challenge:
    """One challenge; scheme and parameter names are lowercased (they are case-insensitive)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    token68: str | None = None


def parse_challenges(header: str) -> list[Challenge]:
    """Every well-formed challenge in the header, in order; [] when none is."""
    parser = _Parser(header)
    found: list[Challenge] = []
    while (challenge := parser.challenge()) is not None:
        found.append(challenge)
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def challenge(self) -> Challenge | None:
        """The next complete challenge, or None at the end or at malformed input."""
        self.skip(_SEPARATORS)
        scheme = self.take(_TOKEN)
        if scheme is None:
            return None
        scheme = scheme.lower()
        if not self.skip(_SPACES):  # a bare scheme, e.g. "Basic" or "Basic, Bearer ..."
            return Challenge(scheme) if self.at_boundary() else None
        token68 = self.take(_TOKEN68)
        if token68 is not None:
            return Challenge(scheme, token68=token68)
        params = self.params()
        return None if params is None else Challenge(scheme, MappingProxyType(params))

    def params(self) -> dict[str, str] | None:
        """`name=value` pairs up to the next challenge; None if they are malformed."""
        params: dict[str, str] = {}
        while True:
            mark = self.pos
            self.skip(_SEPARATORS)
            after_comma = "," in self.text[mark : self.pos]
            if self.pos == len(self.text):
                return params
            name = self.take(_TOKEN)
            self.skip(_SPACES)
            if name is None or not self.text.startswith("=", self.pos):
                # Not a parameter: the next challenge begins here, after a comma.
                self.pos = mark
                return params if after_comma else None
            self.pos += 1
            self.skip(_SPACES)
            value = self.quoted() if self.text.startswith('"', self.pos) else self.take(_TOKEN)
            if value is None:
                return None
            params.setdefault(name.lower(), value)  # a repeated name is ignored
            self.skip(_SPACES)
            if not self.at_boundary():
                return None

    def quoted(self) -> str | None:
        """A quoted-string's content with backslash escapes undone; None if unterminated."""
        chars: list[str] = []
        pos = self.pos + 1
        while pos < len(self.text):
            char = self.text[pos]
            if char == '"':
                self.pos = pos + 1
                return "".join(chars)
            if char == "\\" and pos + 1 < len(self.text):
                pos += 1
                char = self.text[pos]
            chars.append(char)
            pos += 1
        return None

    def at_boundary(self) -> bool:
        return self.pos == len(self.text) or self.text[self.pos] == ","

    def take(self, pattern: re.Pattern[str]) -> str | None:
        match = pattern.match(self.text, self.pos)
        if match is None:
            return None
        self.pos = match.end()
        return match.group()

    def skip(self, pattern: re.Pattern[str]) -> bool:
        return self.take(pattern) is not None
