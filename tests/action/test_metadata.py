"""action.yml, the Settings model, action/inputs.py's tables and the README kept in step."""

from __future__ import annotations

import re

from oci_promote import action as action_module
from oci_promote.frontend.settings import ENV_PREFIX
from testkit.action_runner import REPO_ROOT, load_action
from tests.action.docs import action_section, inputs_table, outputs_table

_INPUT_EXPR = re.compile(r"^\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}$")
#: Inputs of the set-up steps, not of Python: `cache` switches actions/cache on or off.
SETUP_INPUTS = {"cache"}


def _promote_step() -> dict[str, object]:
    [step] = [s for s in load_action()["runs"]["steps"] if s.get("id") == "promote"]
    return step


def test_every_input_maps_to_a_settings_field_and_back() -> None:
    action = load_action()
    env = _promote_step()["env"]
    assert isinstance(env, dict)
    passed: dict[str, str] = {}
    for variable, value in env.items():
        match = _INPUT_EXPR.match(str(value))
        if match is None:
            assert not variable.startswith(ENV_PREFIX), f"{variable} is not fed by an input"
            continue
        assert variable.startswith(ENV_PREFIX), f"input {match[1]} reaches Python outside {ENV_PREFIX}*"
        passed[match[1]] = variable.removeprefix(ENV_PREFIX).lower()

    assert set(passed) == set(action["inputs"]) - SETUP_INPUTS, "every input goes to Python, and only inputs"
    assert passed == action_module.INPUTS, "action.yml's env and action.INPUTS disagree"
    fields = set(action_module.ActionSettings.field_names())
    assert set(passed.values()) <= fields, "an input feeds no Settings field"
    # Every field is an input or deliberately not one (with a reason), never both.
    assert set(passed.values()).isdisjoint(action_module.NOT_INPUTS)
    assert set(passed.values()) | set(action_module.NOT_INPUTS) == fields
    assert set(action_module.SECRET_FIELDS) <= fields


def test_inputs_and_outputs_are_declared_for_the_marketplace() -> None:
    action = load_action()
    assert action["name"] and action["description"] and len(action["description"]) <= 125
    assert set(action["branding"]) == {"icon", "color"}
    for name, spec in action["inputs"].items():
        assert spec.get("description"), name
        assert spec.get("required") or "default" in spec, f"optional input {name} has no default"
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    # Not required: verify mode needs no source (Python requires it for a copy), the release
    # modes neither source nor destinations (they take `file`), so actionlint must not.
    assert not action["inputs"]["source"].get("required")
    assert not action["inputs"]["destinations"].get("required")
    assert tuple(action["outputs"]) == action_module.OUTPUTS
    for name, spec in action["outputs"].items():
        assert spec["description"]
        assert spec["value"] == f"${{{{ steps.promote.outputs.{name} }}}}"


def test_no_expression_is_ever_interpolated_into_a_script() -> None:
    for step in load_action()["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), f"step {step.get('name')}: pass values through env: instead"


def test_the_readme_tables_match_action_yml() -> None:
    action = load_action()
    path, section = action_section()
    assert inputs_table(action) in section, f"{path}: regenerate with `python -m tests.action.docs`"
    assert outputs_table(action) in section, f"{path}: regenerate with `python -m tests.action.docs`"
    assert "expected-digest" in section
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert outputs_table(action) in readme, "README.md: its outputs table is docs/action.md's"
    assert "expected-digest" in readme and "steps.promote.outputs.digest" in readme


def test_the_cache_input_switches_both_cache_steps() -> None:
    steps = {s.get("id"): s for s in load_action()["runs"]["steps"]}
    for step_id in ("restore", "save"):
        assert "inputs.cache == 'true'" in str(steps[step_id]["if"]), step_id
    assert load_action()["inputs"]["cache"]["default"] == "true"
