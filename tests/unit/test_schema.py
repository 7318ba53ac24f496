"""Every option of the schema reaches each place it is declared for, and nothing else does.

One declaration per option (`oci_promote.schema.OPTIONS`): this test walks all of them
and checks the CLI's `--help` (flag and help text), its environment help, the settings
models, action.yml's inputs and the promote step's variables, and the library's
`CopyOptions`/`ConnectOptions`/`oci_promote.copy` (field and default).
"""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import pytest

import oci_promote
from oci_promote.action.inputs import INPUTS, NOT_INPUTS, SECRET_FIELDS, ActionSettings
from oci_promote.cli.args import build_parser
from oci_promote.frontend.settings import Settings
from oci_promote.options import BOUNDS, ConnectOptions, CopyOptions
from oci_promote.schema import OPTIONS, Option
from testkit.action_runner import load_action
from tests.action.docs import schema_inputs

#: Where the library keeps an option under another name: the parsed credential.
LIBRARY_FIELD = {"src_creds": "source_credential", "dest_creds": "destination_credential"}
#: `oci_promote.copy`'s keyword for an option, where it differs.
COPY_KEYWORD: dict[str, str] = {}


def _help(*command: str) -> str:
    parser = build_parser()
    if not command:
        return parser.format_help()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[command[0]].format_help()  # type: ignore[index]


HELP = {name: " ".join(_help(name).split()) for name in ("copy", "digest", "diff", "verify")}


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_every_option_reaches_help_environment_action_and_library(option: Option) -> None:
    copy_help = HELP["copy"]
    # The settings models: the CLI's reads every option but the Action's own; the Action's all.
    assert (option.name in Settings.model_fields) == (option.scope in ("both", "cli"))
    assert (option.name in ActionSettings.model_fields) == (option.scope in ("both", "action"))

    if option.scope in ("both", "cli"):
        # The environment help lists the variable with what it sets.
        assert f"{option.env} {' '.join(option.env_help.split())}" in copy_help
        if option.flag is not None and option.cli_flag.startswith("--"):
            assert f"{option.cli_flag} " in copy_help
            assert "".join(option.help.split()) in "".join(copy_help.split())  # as argparse wraps it
            for command in ("digest", "diff", "verify"):
                shown = f"{option.cli_flag} " in HELP[command]
                assert shown == (option.every_command and option.name != "dest_creds"), (command, option.name)
        elif option.flag is None:
            assert f"--{option.name.replace('_', '-')} " not in copy_help

    if option.scope != "cli":  # the Action's, or its set-up's (which reads no variable)
        action = load_action()
        [promote] = [s for s in action["runs"]["steps"] if s.get("id") == "promote"]
        if option.input:
            spec = action["inputs"][option.input]
            assert {**spec, "description": " ".join(spec["description"].split())} == schema_inputs()[
                option.input
            ], f"{option.input}: run `python -m tests.action.docs --write`"
            if option.scope == "setup":
                assert option.env not in promote["env"] and option.input not in INPUTS
            else:
                assert promote["env"][option.env] == f"${{{{ inputs.{option.input} }}}}"
                assert INPUTS[option.input] == option.name
        else:
            assert option.not_input and NOT_INPUTS[option.name] == option.not_input
            assert option.env not in promote["env"]
        assert (option.name in SECRET_FIELDS) == (option.secret and option.scope != "setup")

    if option.library is not None:
        home = CopyOptions if option.library == "copy" else ConnectOptions
        [found] = [
            f for f in dataclasses.fields(home) if f.name == LIBRARY_FIELD.get(option.name, option.name)
        ]
        if found.default is not dataclasses.MISSING and option.name not in LIBRARY_FIELD:
            assert found.default == option.default, option.name
        keyword = inspect.signature(oci_promote.copy).parameters[COPY_KEYWORD.get(option.name, option.name)]
        if keyword.default is not inspect.Parameter.empty:
            assert keyword.default == option.default, option.name
    if option.bound is not None:
        assert BOUNDS[option.name] is option.bound
        assert option.kind in ("int", "float")


def test_the_schema_names_every_input_and_every_library_option() -> None:
    """Nothing reaches action.yml or the library without a schema entry."""
    declared = {o.name for o in OPTIONS}
    assert set(load_action()["inputs"]) == {o.input for o in OPTIONS if o.input}
    library = {LIBRARY_FIELD.get(o.name, o.name) for o in OPTIONS if o.library}
    not_options = {"source_credential", "destination_credential", "connect", "credential_provider"}
    for home in (CopyOptions, ConnectOptions):
        for f in dataclasses.fields(home):
            assert f.name in library or f.name in not_options, f"{home.__name__}.{f.name} is in no Option"
    assert set(Settings.model_fields) <= declared and set(ActionSettings.model_fields) <= declared


def test_help_and_version_do_not_load_pydantic_or_the_engine() -> None:
    """The settings models and the engine (httpx) load only once a command runs: `--help`,
    `--version` and `diff --help` stay light."""
    code = (
        "import sys\n"
        "from oci_promote.cli.main import main\n"
        "for argv in (['--help'], ['--version'], ['copy', '--help'], ['diff', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('pydantic', 'httpx', 'httpcore', 'oci_promote.api', 'oci_promote.forensics')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy) and sys.modules[m] is not None))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"
