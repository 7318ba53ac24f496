"""The README's input and output tables, generated from action.yml.

`python -m tests.action.docs` prints them; tests/action/test_metadata.py checks that the
README section (between its action markers) contains exactly these tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testkit.action_runner import REPO_ROOT, load_action

START, END = "<!-- action:start -->", "<!-- action:end -->"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def inputs_table(action: dict[str, Any]) -> str:
    rows = ["| Input | Required | Default | Description |", "|---|---|---|---|"]
    for name, spec in action["inputs"].items():
        default = str(spec.get("default", ""))
        required = "yes" if spec.get("required") else "no"
        shown = "" if spec.get("required") else f"`{default}`" if default else "*(empty)*"
        rows.append(f"| `{name}` | {required} | {shown} | {_cell(spec['description'])} |")
    return "\n".join(rows)


def outputs_table(action: dict[str, Any]) -> str:
    rows = ["| Output | Description |", "|---|---|"]
    rows += [f"| `{name}` | {_cell(spec['description'])} |" for name, spec in action["outputs"].items()]
    return "\n".join(rows)


def action_section() -> tuple[Path, str]:
    """The README's GitHub Action section: the text between the markers."""
    path = REPO_ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    assert START in text and END in text, f"README.md lacks the {START} ... {END} markers"
    return path, text.split(START, 1)[1].split(END, 1)[0]


if __name__ == "__main__":
    action = load_action()
    print(inputs_table(action))
    print()
    print(outputs_table(action))
