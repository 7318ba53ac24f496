"""Problems with a file, each with its line: YAML composed node by node, pydantic errors placed.

Kept apart from the models (`file.py`) so each stays short: this knows YAML and locations,
the models know the format.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import UsageError

Loc = tuple[str | int, ...]
#: libyaml's parser when PyYAML was built with it (a 1,000-entry file in a tenth of the time).
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (line, field path) and what."""

    line: int | None
    field: str
    message: str

    def render(self, path: str) -> str:
        where = f"{path}:{self.line}" if self.line else path
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class PromotionFileError(UsageError):
    """The file is not a valid promotion file; `problems` lists every problem found."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"{path}: {count}:\n" + "\n".join("  " + p.render(path) for p in problems))


def field_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problem_of(err: Any, lines: dict[Loc, int]) -> Problem:
    loc: Loc = tuple(err["loc"])
    line = None
    for n in range(len(loc), -1, -1):  # the value's line, else its nearest parent's
        if loc[:n] in lines:
            line = lines[loc[:n]]
            break
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    elif err["type"] == "missing":
        message = "missing"
    return Problem(line, field_path(loc), message)


def compose(text: str) -> tuple[Any, dict[Loc, int], list[Problem]]:
    """The document as plain values, the line of every value by its path, and YAML problems."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        return None, {}, [Problem(mark.line + 1 if mark else None, "", f"not valid YAML: {problem}")]
    if node is None:
        return None, {}, [Problem(1, "", "the file is empty")]
    lines: dict[Loc, int] = {}
    problems: list[Problem] = []
    constructor = yaml.SafeLoader("")

    def build(n: yaml.Node, loc: Loc) -> Any:
        lines[loc] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in n.value:
                key = constructor.construct_object(key_node, deep=True)
                if key in out:
                    problems.append(
                        Problem(key_node.start_mark.line + 1, field_path((*loc, key)), "duplicate key")
                    )
                out[key] = build(value_node, (*loc, key))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(item, (*loc, i)) for i, item in enumerate(n.value)]
        return constructor.construct_object(n, deep=True)

    return build(node, ()), lines, problems


def iter_problems(error: PromotionFileError) -> Iterator[str]:
    for p in error.problems:
        yield p.render(error.path)
