"""How two JSON documents differ: in their bytes only (style), or in their content (paths).

A digest is the hash of bytes, so a tool that parses a manifest and writes it
again changes the digest even when every value is the same. This module names
what such a rewrite changed (indentation, key order, spacing, escapes, the
trailing newline) and, for content, which JSON paths differ. Pure functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
#: Characters a writer must escape in JSON: their form tells nothing about the writer.
_MANDATORY = frozenset({'"', "\\"} | {chr(c) for c in range(0x20)})
#: More paths than this in one detail helps nobody; the count of the rest is given.
MAX_PATHS = 10


@dataclass(frozen=True)
class Style:
    """The writer's fingerprint of one JSON document."""

    indent: str  # "none", "2 spaces", "tab", ...
    colon: str | None  # '":"' or '": "' (None: the document has no object member)
    comma: str | None  # '","' or '", "' on one line (None: no inline comma)
    newline: bool
    escapes: dict[str, str]  # character -> how it is written ("é" or "\\u00e9")


def style_of(raw: bytes) -> Style:
    """Read the writer's choices from the bytes, outside and inside string literals."""
    bare = _STRING.sub(b'""', raw)
    return Style(
        indent=_indent(bare),
        colon=_separator(bare, b":"),
        comma=_separator(bare, b","),
        newline=raw.endswith(b"\n"),
        escapes=_escapes(raw),
    )


def _indent(bare: bytes) -> str:
    """The smallest indentation of any line after the first: the writer's unit."""
    leads = [line[: len(line) - len(line.lstrip(b" \t"))] for line in bare.strip().splitlines()[1:]]
    leads = [lead for lead in leads if lead]
    if not leads:
        return "none"
    unit = min(leads, key=len)
    name = "tab" if unit.startswith(b"\t") else "space"
    return f"1 {name}" if len(unit) == 1 else f"{len(unit)} {name}s"


def _separator(bare: bytes, mark: bytes) -> str | None:
    """How `mark` is followed on the same line: directly, or by spaces."""
    for match in re.finditer(re.escape(mark) + rb"([ \t]*)(\r?\n)?", bare):
        if match.group(2):  # followed by a line break: indentation, not spacing
            continue
        return f'"{mark.decode()}{match.group(1).decode()}"'
    return None


def _escapes(raw: bytes) -> dict[str, str]:
    forms: dict[str, str] = {}
    for literal in _STRING.findall(raw):
        text = literal[1:-1].decode("utf-8", errors="replace")
        position = 0
        for match in _ESCAPE.finditer(text):
            for char in text[position : match.start()]:
                if ord(char) > 0x7E or char in "<>&/":
                    forms.setdefault(char, char)
            token = match.group(1)
            char = chr(int(token[1:], 16)) if token.startswith("u") else _SIMPLE_ESCAPES.get(token, token)
            if char not in _MANDATORY:
                forms.setdefault(char, "\\" + token)
            position = match.end()
        for char in text[position:]:
            if ord(char) > 0x7E or char in "<>&/":
                forms.setdefault(char, char)
    return forms


def style_differences(raw_a: bytes, raw_b: bytes) -> list[str]:
    """What a rewrite changed between two documents, one phrase per aspect (empty: nothing seen)."""
    a, b = style_of(raw_a), style_of(raw_b)
    found = []
    if a.indent != b.indent:
        found.append(f"indentation ({a.indent} -> {b.indent})")
    order = key_order_difference(_load(raw_a), _load(raw_b))
    if order:
        found.append(f"key order ({order})")
    spacing = [f"{x} -> {y}" for x, y in ((a.colon, b.colon), (a.comma, b.comma)) if x and y and x != y]
    if spacing:
        found.append(f"spacing ({', '.join(spacing)})")
    escaped = sorted(c for c in a.escapes.keys() & b.escapes.keys() if a.escapes[c] != b.escapes[c])
    if escaped:
        shown = ", ".join(f"{a.escapes[c]} -> {b.escapes[c]}" for c in escaped[:4])
        found.append(f"escapes ({shown})")
    if a.newline != b.newline:
        found.append("trailing newline (" + ("removed" if a.newline else "added") + ")")
    return found


def _load(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def key_order_difference(a: Any, b: Any, path: str = "$") -> str | None:
    """The first object (by path) whose shared keys come in another order, described."""
    if isinstance(a, dict) and isinstance(b, dict):
        shared = a.keys() & b.keys()
        order_a = [k for k in a if k in shared]
        order_b = [k for k in b if k in shared]
        if order_a != order_b:
            return f"{path}: {','.join(order_a)} -> {','.join(order_b)}"
        for key in order_a:
            found = key_order_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
    elif isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            found = key_order_difference(x, y, f"{path}[{i}]")
            if found:
                return found
    return None


def same_content(raw_a: bytes, raw_b: bytes) -> bool:
    """True when both are JSON with equal values (key order and formatting aside)."""
    a, b = _load(raw_a), _load(raw_b)
    return a is not None and _deep_equal(a, b)


def _equal(a: Any, b: Any) -> bool:
    # bool is an int in Python, and 1 == 1.0: compare types too, as a digest would.
    if type(a) is not type(b):
        return False
    return bool(a == b)


def differing_paths(a: Any, b: Any, path: str = "") -> Iterator[str]:
    """Every leaf path (dotted, with [i] for list items) whose value differs or exists on one side only."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            child = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                yield child
            else:
                yield from differing_paths(a[key], b[key], child)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from differing_paths(x, y, f"{path}[{i}]")
    elif not _deep_equal(a, b):
        yield path or "$"


def _deep_equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=False))
    return _equal(a, b)


def shown_paths(paths: list[str]) -> str:
    """Paths for a one-line detail, capped at MAX_PATHS."""
    more = len(paths) - MAX_PATHS
    return ", ".join(paths[:MAX_PATHS]) + (f" and {more} more" if more > 0 else "")
