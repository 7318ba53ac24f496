"""action.yml's inputs, from the option schema; the tables of docs/action.md, from action.yml.

    python -m tests.action.docs            # print the tables for docs/action.md
    python -m tests.action.docs --write    # rewrite action.yml's inputs and the promote
                                           # step's env from the schema, then print them

tests/unit/test_schema.py checks that action.yml's inputs are what the schema says;
tests/action/test_metadata.py that docs/action.md (between its action markers)
contains exactly these tables.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

from oci_promote.schema import Option, action_inputs
from testkit.action_runner import ACTION_YML, REPO_ROOT, load_action

START, END = "<!-- action:start -->", "<!-- action:end -->"
#: Where the promote step passes inputs to Python: one variable per input.
_ENV_LINE = re.compile(r"^        OCI_PROMOTE_[A-Z_]+: \$\{\{ inputs\.[a-z-]+ \}\}\n", re.M)


def input_options() -> list[Option]:
    return list(action_inputs())


def schema_inputs() -> dict[str, dict[str, Any]]:
    """action.yml's `inputs:` as the schema declares them (descriptions with single spaces)."""
    inputs: dict[str, dict[str, Any]] = {}
    for option in input_options():
        assert option.input is not None
        spec: dict[str, Any] = {"description": option.input_help, "required": option.input_required}
        if not option.input_required:
            spec["default"] = option.action_default()
        inputs[option.input] = spec
    return inputs


def _yaml_inputs() -> str:
    lines = ["inputs:"]
    for name, spec in schema_inputs().items():
        lines.append(f"  {name}:")
        text = spec["description"]
        if len(text) <= 88:
            lines.append(f"    description: {json.dumps(text)}")
        else:
            lines.append("    description: >-")
            lines += textwrap.wrap(text, 92, initial_indent="      ", subsequent_indent="      ")
        lines.append(f"    required: {'true' if spec['required'] else 'false'}")
        if "default" in spec:
            lines.append(f"    default: {json.dumps(spec['default'])}")
    return "\n".join(lines) + "\n"


def write_action_yml(path: Path = ACTION_YML) -> None:
    """Replace the `inputs:` block and the promote step's input variables with the schema's."""
    text = path.read_text(encoding="utf-8")
    head, rest = text.split("\ninputs:\n", 1)
    _, tail = rest.split("\noutputs:\n", 1)
    text = f"{head}\n{_yaml_inputs()}\noutputs:\n{tail}"
    env = "".join(
        f"        {o.env}: ${{{{ inputs.{o.input} }}}}\n" for o in input_options() if o.scope != "setup"
    )
    first = _ENV_LINE.search(text)
    assert first is not None, "the promote step passes no input"
    text = _ENV_LINE.sub("", text)
    text = text[: first.start()] + env + text[first.start() :]
    path.write_text(text, encoding="utf-8")


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
    """The Action's reference (docs/action.md): the text between the markers."""
    path = REPO_ROOT / "docs" / "action.md"
    text = path.read_text(encoding="utf-8")
    assert START in text and END in text, f"{path} lacks the {START} ... {END} markers"
    return path, text.split(START, 1)[1].split(END, 1)[0]


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        write_action_yml()
    action = load_action()
    print(inputs_table(action))
    print()
    print(outputs_table(action))
