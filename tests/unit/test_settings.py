"""The front ends' settings reader: flags, then OCI_PROMOTE_*, converted and checked once.

pydantic-settings models generated from the option schema; these tests hold them to what
the CLI has always accepted (names, lists, switches, ranges, every problem at once) and
to the rule that no secret is ever shown.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from oci_promote.errors import CredentialsError, UsageError
from oci_promote.frontend.settings import Settings
from oci_promote.options import DEFAULT_JOBS
from oci_promote.transport.credentials import Credential
from oci_promote.types.secret import Secret

SECRET = "hunter2-s3cr3t"


def _read(**env: str) -> Settings:
    return Settings.read(None, {"OCI_PROMOTE_" + name.upper(): text for name, text in env.items()})


def test_defaults_without_flags_or_variables() -> None:
    settings = Settings.read({}, {})
    assert settings == Settings()
    assert (settings.jobs, settings.timeout, settings.referrers, settings.destinations) == (
        DEFAULT_JOBS,
        60.0,
        True,
        (),
    )


def test_variables_are_read_by_name_in_any_case_and_converted() -> None:
    settings = Settings.read(
        None,
        {
            "OCI_PROMOTE_SOURCE": "reg.example/a:1",
            "oci_promote_jobs": " 8 ",
            "Oci_Promote_Timeout": "2.5",
            "OCI_PROMOTE_DOCKER_CONFIG": "/etc/docker",
            "OCI_PROMOTE_CHUNK_SIZE": "65536",
            "OTHER_JOBS": "9",
        },
    )
    assert (settings.source, settings.jobs, settings.timeout) == ("reg.example/a:1", 8, 2.5)
    assert settings.docker_config == Path("/etc/docker")
    assert settings.chunk_size == 65536


def test_a_flag_wins_over_its_variable_whose_value_is_then_not_read() -> None:
    env = {"OCI_PROMOTE_JOBS": "2", "OCI_PROMOTE_DRY_RUN": "maybe", "OCI_PROMOTE_REFERRERS": "off"}
    settings = Settings.read({"jobs": 16, "dry_run": False}, env)
    assert (settings.jobs, settings.dry_run, settings.referrers) == (16, False, False)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        *[(t, True) for t in ("1", "true", "TRUE", "True", "yes", "Yes", "on", "ON", "t", "y")],
        *[(t, False) for t in ("0", "false", "FALSE", "no", "No", "off", "Off", "f", "n")],
    ],
)
def test_switches_take_every_spelling_in_any_case(text: str, value: bool) -> None:
    assert _read(dry_run=text).dry_run is value
    assert _read(referrers=text).referrers is value


@pytest.mark.parametrize("text", ["", "maybe", "2", "1.0", "enabled"])
def test_a_switch_that_is_neither_is_refused_by_its_variable(text: str) -> None:
    with pytest.raises(UsageError, match=r"^OCI_PROMOTE_CHUNKED: must be true or false"):
        _read(chunked=text)


def test_lists_split_on_commas_and_newlines_and_drop_blanks() -> None:
    settings = _read(
        destinations=" r.example/a , r.example/b\n\nr.example/c,\n",
        insecure_registries="a.example:5000,b.example",
        protect="v*\r\nstable",
        referrer_types="",
    )
    assert settings.destinations == ("r.example/a", "r.example/b", "r.example/c")
    assert settings.insecure_registries == ("a.example:5000", "b.example")
    assert settings.protect == ("v*", "stable")
    assert settings.referrer_types == ()
    # A list from repeated flags is kept as given.
    assert Settings.read({"referrer_types": ["a/x,b/y"]}, {}).referrer_types == ("a/x,b/y",)


def test_blank_optional_values_are_not_given() -> None:
    settings = _read(expected_from="", docker_config="", ca_file=" ")
    assert settings.expected_digest is None and settings.expected_from is None
    assert settings.docker_config is None and settings.ca_file is None


@pytest.mark.parametrize("text", ["", " ", "\n"])
def test_a_blank_expected_digest_is_refused_not_read_as_none(text: str) -> None:
    """A digest guard that an empty build output turns off would fail open (issue 18)."""
    for read in (lambda: _read(expected_digest=text), lambda: Settings.read({"expected_digest": text}, {})):
        with pytest.raises(UsageError) as excinfo:
            read()
        (line,) = str(excinfo.value).splitlines()
        assert "EXPECTED_DIGEST: is empty" in line or "--expected-digest: is empty" in line


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"jobs": "0"}, "OCI_PROMOTE_JOBS: must be at least 1 and at most 64"),
        ({"jobs": "65"}, "OCI_PROMOTE_JOBS: must be at least 1 and at most 64"),
        ({"jobs": "many"}, "OCI_PROMOTE_JOBS: must be an integer"),
        ({"jobs": "8.5"}, "OCI_PROMOTE_JOBS: must be an integer"),
        ({"retries": ""}, "OCI_PROMOTE_RETRIES: must be an integer"),
        ({"timeout": "0"}, "OCI_PROMOTE_TIMEOUT: must be above 0 and at most 3600"),
        ({"timeout": "abc"}, "OCI_PROMOTE_TIMEOUT: must be a number"),
        ({"timeout": "nan"}, "OCI_PROMOTE_TIMEOUT: must be a finite number"),
        ({"retry_delay": "inf"}, "OCI_PROMOTE_RETRY_DELAY: must be a finite number"),
        ({"retry_budget": "10001"}, "OCI_PROMOTE_RETRY_BUDGET: must be at least 0 and at most 10000"),
        ({"chunk_size": "1024"}, "OCI_PROMOTE_CHUNK_SIZE: must be at least 65536"),
    ],
)
def test_numbers_out_of_options_bounds_name_their_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as excinfo:
        _read(**env)
    assert str(excinfo.value).startswith(message)
    assert len(str(excinfo.value).splitlines()) == 1


def test_flags_are_checked_against_the_same_bounds_and_named() -> None:
    with pytest.raises(UsageError, match=r"^--jobs: must be at least 1 and at most 64, got 0$"):
        Settings.read({"jobs": 0}, {})
    with pytest.raises(UsageError, match=r"^--chunk-size: must be at least 65536"):
        Settings.read({"chunk_size": 10}, {})
    with pytest.raises(UsageError, match=r"^--jobs: must be an integer$"):
        Settings.read({"jobs": True}, {})


def test_every_wrong_value_is_in_one_line_and_collect_keeps_the_defaults() -> None:
    env = {"OCI_PROMOTE_JOBS": "many", "OCI_PROMOTE_DRY_RUN": "maybe", "OCI_PROMOTE_RETRIES": "2"}
    with pytest.raises(UsageError) as excinfo:
        Settings.read({"timeout": 0.0}, env)
    text = str(excinfo.value)
    assert text.count(": must be") == 3 and "\n" not in text
    assert "--timeout" in text and "OCI_PROMOTE_JOBS" in text and "OCI_PROMOTE_DRY_RUN" in text
    assert "many" not in text and "maybe" not in text

    settings, problems = Settings.collect(None, env)
    assert [p.origin for p in problems] == ["OCI_PROMOTE_DRY_RUN", "OCI_PROMOTE_JOBS"]
    assert (settings.jobs, settings.dry_run, settings.retries) == (DEFAULT_JOBS, False, 2)


def test_trimming_drops_inputs_of_only_whitespace() -> None:
    env = {
        "OCI_PROMOTE_JOBS": " \n",
        "OCI_PROMOTE_SOURCE": " r.example/a:1\n",
        "OCI_PROMOTE_SRC_PASSWORD": "pw \n",
    }
    settings, problems = Settings.collect(None, env, trim=True)
    assert problems == []
    assert (settings.jobs, settings.source) == (DEFAULT_JOBS, "r.example/a:1")
    assert settings.src_password is not None and settings.src_password.get_secret_value() == "pw"
    # Untrimmed, a blank number is a wrong value and text keeps its spaces.
    settings, problems = Settings.collect(None, env)
    assert [p.field for p in problems] == ["jobs"] and settings.source == " r.example/a:1\n"


def test_a_secret_never_shows_itself() -> None:
    secret = Secret(SECRET)
    shown = [
        str(secret),
        repr(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>40}",
        str(Credential("robot", secret)),
        str([secret]),
    ]
    assert not [text for text in shown if SECRET in text]
    assert str(secret) == "**********" and str(Secret("")) == ""
    assert secret.get_secret_value() == SECRET
    assert secret == Secret(SECRET) and secret != Secret("other") and secret != SECRET
    assert hash(secret) == hash(Secret(SECRET))
    assert copy.deepcopy(secret) == secret
    with pytest.raises(TypeError):
        Secret(42)  # type: ignore[arg-type]


def test_no_secret_in_the_settings_repr_nor_in_their_errors() -> None:
    env = {
        "OCI_PROMOTE_SRC_PASSWORD": SECRET,
        "OCI_PROMOTE_SRC_USERNAME": "robot",
        "OCI_PROMOTE_DEST_CREDS": f"pusher:{SECRET}",
    }
    settings = Settings.read(None, env)
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert settings.source_credential() == Credential("robot", Secret(SECRET))
    assert SECRET not in repr(settings.destination_credential())

    for variable in ("OCI_PROMOTE_SRC_CREDS", "OCI_PROMOTE_DEST_CREDS"):
        broken = Settings.read(None, {variable: SECRET})  # no colon
        with pytest.raises(CredentialsError) as excinfo:
            broken.source_credential() if "SRC" in variable else broken.destination_credential()
        assert SECRET not in str(excinfo.value)
    with pytest.raises(CredentialsError) as excinfo:
        Settings.read(None, {"OCI_PROMOTE_DEST_PASSWORD": SECRET}).destination_credential()
    assert SECRET not in str(excinfo.value) and "username" in str(excinfo.value)
    with pytest.raises(UsageError) as wrong:
        Settings.read({"src_password": 12345}, {})
    assert "12345" not in str(wrong.value) and str(wrong.value) == "--src-password: must be text"


@pytest.mark.parametrize("wrong", [[SECRET], {"value": SECRET}, SECRET.encode(), 3.5])
def test_a_wrong_secret_is_never_shown_not_even_as_pydantics_input(wrong: object) -> None:
    """The problem names the flag; neither it nor pydantic's own error holds the value."""
    for name in ("src_password", "dest_creds", "src_creds"):
        settings, problems = Settings.collect({name: wrong}, {})
        assert [str(p) for p in problems] == [f"--{name.replace('_', '-')}: must be text"]
        assert getattr(settings, name) is None
        with pytest.raises(ValidationError) as raw:  # the model itself, as a caller could make it
            Settings(**{name: wrong})
        # hide_input_in_errors: pydantic's message leaves the input out (errors() still has it).
        assert SECRET not in str(raw.value) and SECRET not in repr(raw.value.errors(include_input=False))


def test_a_secret_in_a_wrong_value_of_another_field_is_not_shown() -> None:
    """A password pasted into the wrong variable is not echoed either."""
    env = {"OCI_PROMOTE_JOBS": SECRET, "OCI_PROMOTE_TIMEOUT": SECRET, "OCI_PROMOTE_DRY_RUN": SECRET}
    with pytest.raises(UsageError) as excinfo:
        Settings.read(None, env)
    assert SECRET not in str(excinfo.value) and str(excinfo.value).count("OCI_PROMOTE_") == 3


def test_the_cli_run_module_imports_no_pydantic() -> None:
    """The settings models (pydantic) load only when a command runs, not with the CLI's modules."""
    code = (
        "import sys, oci_promote.cli.run\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('pydantic')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
