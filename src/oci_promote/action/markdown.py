"""Markdown for the job summary that stays intact whatever a reference or message holds."""

from __future__ import annotations


def facts_table(source: str, digest: str, media_type: str) -> list[str]:
    rows = ["| | |", "|---|---|"]
    if source:
        rows.append(f"| Source | {code(source)} |")
    if digest:
        rows.append(f"| Digest | {code(digest)} |")
    if media_type:
        rows.append(f"| Media type | {code(media_type)} |")
    return rows


def code(text: str) -> str:
    """A Markdown code span safe inside a table cell, whatever the text holds."""
    text = " ".join(text.splitlines()).replace("|", "\\|")
    ticks = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def cell(text: str) -> str:
    return " ".join(text.splitlines()).replace("|", "\\|").replace("<", "&lt;")


def fenced(text: str) -> str:
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return f"{fence}text\n{text}\n{fence}"


def _longest_backtick_run(text: str) -> int:
    longest = current = 0
    for char in text:
        current = current + 1 if char == "`" else 0
        longest = max(longest, current)
    return longest
