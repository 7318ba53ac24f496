from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from oci_promote.errors import CredentialsError
from oci_promote.transport import credentials
from oci_promote.transport.credentials import (
    Credential,
    docker_config_path,
    load_docker_credential,
    parse_user_password,
)
from oci_promote.types.secret import Secret

SECRET = "hunter2-s3cr3t"
HUB = "registry-1.docker.io"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def plain(credential: Credential | None) -> tuple[str, str] | None:
    return None if credential is None else (credential.username, credential.password.get_secret_value())


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A private PATH (fake helpers first) and HOME, so the real ~/.docker is never read."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}", "HOME": str(tmp_path)}


WriteConfig = Callable[[dict[str, Any]], Path]
MakeHelper = Callable[[str, str], Path]


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    def write(config: dict[str, Any]) -> Path:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        return path

    return write


@pytest.fixture
def make_helper(tmp_path: Path) -> MakeHelper:
    """Write `docker-credential-<name>`; it logs the server it was asked about to <name>.log."""

    def make(name: str, body: str) -> Path:
        log = tmp_path / f"{name}.log"
        script = tmp_path / "bin" / f"docker-credential-{name}"
        script.write_text(
            f'#!/bin/sh\n[ "$1" = get ] || exit 3\nread -r server\nprintf %s "$server" > "{log}"\n' + body
        )
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        return log

    return make


def answer(username: str, secret: str) -> str:
    payload = json.dumps({"ServerURL": "x", "Username": username, "Secret": secret})
    return f"cat <<'EOF'\n{payload}\nEOF\n"


NOT_FOUND = "echo 'credentials not found in native keychain'\nexit 1\n"


# --- parse_user_password -------------------------------------------------------------


def test_user_password_splits_at_first_colon() -> None:
    credential = parse_user_password(f"robot$ci:{SECRET}:with:colons", what="--src-creds")
    assert plain(credential) == ("robot$ci", f"{SECRET}:with:colons")


def test_user_password_drops_one_trailing_newline() -> None:
    assert plain(parse_user_password(f"u:{SECRET}\n", what="x")) == ("u", SECRET)
    assert plain(parse_user_password(f"u:{SECRET}\r\n", what="x")) == ("u", SECRET)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (SECRET, "has no ':'"),
        (f":{SECRET}", "the user is empty"),
        ("user:", "the password is empty"),
        ("", "has no ':'"),
    ],
)
def test_user_password_errors_name_the_flag_not_the_input(text: str, problem: str) -> None:
    with pytest.raises(CredentialsError) as info:
        parse_user_password(text, what="--dest-creds")
    message = str(info.value)
    assert message.startswith("--dest-creds must be USER:PASSWORD")
    assert problem in message
    assert SECRET not in message


def test_credential_never_shows_the_password() -> None:
    credential = Credential("user", Secret(SECRET))
    assert SECRET not in repr(credential)
    assert SECRET not in str(credential)
    assert SECRET not in f"{credential!r} {credential}"
    assert not credential.is_identity_token
    assert Credential("<token>", Secret(SECRET)).is_identity_token


# --- config location ---------------------------------------------------------------


def test_docker_config_path(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert docker_config_path({"HOME": str(home)}) == home / ".docker" / "config.json"
    assert docker_config_path({"HOME": str(home), "DOCKER_CONFIG": "/cfg"}) == Path("/cfg/config.json")
    assert docker_config_path({"HOME": str(home), "DOCKER_CONFIG": ""}) == (home / ".docker" / "config.json")


def test_docker_config_env_takes_precedence(tmp_path: Path, env: dict[str, str]) -> None:
    home_config = tmp_path / ".docker" / "config.json"
    home_config.parent.mkdir()
    home_config.write_text(json.dumps({"auths": {"r.io": {"auth": b64("home:pw")}}}))
    assert plain(load_docker_credential("r.io", env=env)) == ("home", "pw")

    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"auths": {"r.io": {"auth": b64("dc:pw")}}}))
    assert plain(load_docker_credential("r.io", env={**env, "DOCKER_CONFIG": str(other)})) == (
        "dc",
        "pw",
    )


# --- auths -------------------------------------------------------------------------


def test_missing_file_means_no_credential(tmp_path: Path, env: dict[str, str]) -> None:
    assert load_docker_credential("r.io", config_path=tmp_path / "nope.json", env=env) is None
    assert load_docker_credential("r.io", env=env) is None  # no ~/.docker/config.json


def test_auth_base64(write_config: WriteConfig, env: dict[str, str]) -> None:
    path = write_config({"auths": {"r.io": {"auth": b64(f"user:{SECRET}:x")}}})
    assert plain(load_docker_credential("r.io", config_path=path, env=env)) == (
        "user",
        f"{SECRET}:x",
    )


def test_auth_wins_over_fields(write_config: WriteConfig, env: dict[str, str]) -> None:
    entry = {"auth": b64("a:1"), "username": "b", "password": "2"}
    path = write_config({"auths": {"r.io": entry}})
    assert plain(load_docker_credential("r.io", config_path=path, env=env)) == ("a", "1")


def test_username_password_fields(write_config: WriteConfig, env: dict[str, str]) -> None:
    path = write_config({"auths": {"r.io": {"username": "u", "password": SECRET}}})
    assert plain(load_docker_credential("r.io", config_path=path, env=env)) == ("u", SECRET)


def test_identity_token(write_config: WriteConfig, env: dict[str, str]) -> None:
    entry = {"auth": b64("u:p"), "identitytoken": "refresh-token"}
    path = write_config({"auths": {"r.io": entry}})
    credential = load_docker_credential("r.io", config_path=path, env=env)
    assert plain(credential) == ("<token>", "refresh-token")
    assert credential is not None and credential.is_identity_token


@pytest.mark.parametrize(
    "entry",
    [{}, {"auth": ""}, {"username": "u"}, {"password": "p"}, {"email": "x@y"}, {"auth": b64("u:")}],
)
def test_entry_with_nothing_usable(
    write_config: WriteConfig, env: dict[str, str], entry: dict[str, str]
) -> None:
    path = write_config({"auths": {"r.io": entry}})
    assert load_docker_credential("r.io", config_path=path, env=env) is None


@pytest.mark.parametrize(
    ("key", "registry", "matches"),
    [
        ("r.io", "r.io", True),
        ("R.IO", "r.io", True),
        ("https://r.io", "r.io", True),
        ("https://r.io/v2/", "r.io", True),
        ("http://localhost:5000", "localhost:5000", True),
        ("http://localhost:5000/v1/", "localhost:5000", True),
        ("127.0.0.1:5000", "127.0.0.1:5000", True),
        ("[::1]:5000", "[::1]:5000", True),
        ("r.io:5000", "r.io", False),
        ("r.io", "r.io:5000", False),
        ("https://other.io/r.io", "r.io", False),
        ("sub.r.io", "r.io", False),
        ("https://index.docker.io/v1/", HUB, True),
        ("index.docker.io", HUB, True),
        ("docker.io", HUB, True),
        ("registry-1.docker.io", HUB, True),
        ("https://registry-1.docker.io/v2/", HUB, True),
        ("https://index.docker.io/v1/", "docker.io", True),
        ("https://index.docker.io/v1/", "r.io", False),
    ],
)
def test_auths_key_matching(
    write_config: WriteConfig, env: dict[str, str], key: str, registry: str, matches: bool
) -> None:
    path = write_config({"auths": {key: {"auth": b64("u:p")}}})
    found = load_docker_credential(registry, config_path=path, env=env)
    assert (found is not None) is matches


def test_exact_hub_key_is_preferred(write_config: WriteConfig, env: dict[str, str]) -> None:
    auths = {
        "docker.io": {"auth": b64("alias:pw")},
        "https://index.docker.io/v1/": {"auth": b64("canonical:pw")},
    }
    path = write_config({"auths": auths})
    assert plain(load_docker_credential(HUB, config_path=path, env=env)) == ("canonical", "pw")


# --- malformed config -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"auths": {"r.io": {"auth": "' + b64(f"u:{SECRET}") + '"}', "is not valid JSON"),
        (f'{{"auths": {{"r.io": {{"password": {SECRET}}}}}}}', "is not valid JSON"),
        ("[]", "is not a JSON object"),
        ('{"auths": []}', "'auths' is not a JSON object"),
        ('{"credHelpers": "x"}', "'credHelpers' is not a JSON object"),
        ('{"auths": {"r.io": "' + b64(f"u:{SECRET}") + '"}}', "auths['r.io'] is not a JSON object"),
        ('{"auths": {"r.io": {"auth": "not base64!' + SECRET + '"}}}', "is not base64 of USER:PASSWORD"),
        ('{"auths": {"r.io": {"auth": "' + b64(SECRET) + '"}}}', "is not base64 of USER:PASSWORD"),
        ('{"credsStore": 7}', "must be a string"),
    ],
)
def test_malformed_config_names_file_not_secrets(
    tmp_path: Path, env: dict[str, str], content: str, problem: str
) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(CredentialsError) as info:
        load_docker_credential("r.io", config_path=path, env=env)
    message = str(info.value)
    assert problem in message
    assert str(path) in message
    assert SECRET not in message
    assert b64(f"u:{SECRET}") not in message


def test_unreadable_config(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(CredentialsError, match="cannot read Docker config"):
        load_docker_credential("r.io", config_path=tmp_path, env=env)  # a directory
    binary = tmp_path / "config.json"
    binary.write_bytes(b"\xff\xfe{}")
    with pytest.raises(CredentialsError, match="not UTF-8"):
        load_docker_credential("r.io", config_path=binary, env=env)


# --- credential helpers -------------------------------------------------------------


def test_cred_helper(write_config: WriteConfig, make_helper: MakeHelper, env: dict[str, str]) -> None:
    log = make_helper("test", answer("helper-user", SECRET))
    path = write_config(
        {"credHelpers": {"r.io:5000": "test"}, "auths": {"r.io:5000": {"auth": b64("file:pw")}}}
    )
    assert plain(load_docker_credential("r.io:5000", config_path=path, env=env)) == (
        "helper-user",
        SECRET,
    )
    assert log.read_text() == "r.io:5000"


def test_cred_helper_for_docker_hub_gets_the_index_url(
    write_config: WriteConfig, make_helper: MakeHelper, env: dict[str, str]
) -> None:
    log = make_helper("test", answer("hub-user", SECRET))
    path = write_config({"credHelpers": {"docker.io": "test"}})
    assert plain(load_docker_credential(HUB, config_path=path, env=env)) == ("hub-user", SECRET)
    assert log.read_text() == "https://index.docker.io/v1/"


def test_cred_helper_identity_token(
    write_config: WriteConfig, make_helper: MakeHelper, env: dict[str, str]
) -> None:
    make_helper("test", answer("<token>", "refresh"))
    path = write_config({"credHelpers": {"r.io": "test"}})
    credential = load_docker_credential("r.io", config_path=path, env=env)
    assert credential is not None and credential.is_identity_token


def test_cred_helper_beats_store(
    write_config: WriteConfig, make_helper: MakeHelper, env: dict[str, str]
) -> None:
    make_helper("test", answer("from-helper", "1"))
    store_log = make_helper("store", answer("from-store", "2"))
    path = write_config({"credHelpers": {"r.io": "test"}, "credsStore": "store"})
    assert plain(load_docker_credential("r.io", config_path=path, env=env)) == ("from-helper", "1")
    assert not store_log.exists()
    # Other registries still go to the store.
    assert plain(load_docker_credential("q.io", config_path=path, env=env)) == ("from-store", "2")
    assert store_log.read_text() == "q.io"


def test_empty_helper_name_means_inline_auths(
    write_config: WriteConfig, make_helper: MakeHelper, env: dict[str, str]
) -> None:
    store_log = make_helper("store", answer("from-store", "2"))
    config = {
        "credHelpers": {"r.io": ""},
        "credsStore": "store",
        "auths": {"r.io": {"auth": b64("inline:pw")}},
    }
    path = write_config(config)
    assert plain(load_docker_credential("r.io", config_path=path, env=env)) == ("inline", "pw")
    assert not store_log.exists()


def test_store_is_preferred_over_inline_auth(
    write_config: WriteConfig, make_helper: MakeHelper, env: dict[str, str]
) -> None:
    make_helper("store", answer("from-store", SECRET))
    path = write_config({"credsStore": "store", "auths": {"r.io": {"auth": b64("inline:pw")}}})
    assert plain(load_docker_credential("r.io", config_path=path, env=env)) == (
        "from-store",
        SECRET,
    )


def test_not_found_falls_back_to_inline_auth(
    write_config: WriteConfig, make_helper: MakeHelper, env: dict[str, str]
) -> None:
    make_helper("store", NOT_FOUND)
    path = write_config({"credsStore": "store", "auths": {"r.io": {"auth": b64("inline:pw")}}})
    assert plain(load_docker_credential("r.io", config_path=path, env=env)) == ("inline", "pw")
    assert load_docker_credential("q.io", config_path=path, env=env) is None


def test_empty_secret_counts_as_not_found(
    write_config: WriteConfig, make_helper: MakeHelper, env: dict[str, str]
) -> None:
    make_helper("store", answer("", ""))
    path = write_config({"credsStore": "store"})
    assert load_docker_credential("r.io", config_path=path, env=env) is None


def test_missing_helper(write_config: WriteConfig, env: dict[str, str]) -> None:
    path = write_config({"credHelpers": {"r.io": "nope"}})
    with pytest.raises(CredentialsError) as info:
        load_docker_credential("r.io", config_path=path, env=env)
    assert "docker-credential-nope" in str(info.value)
    assert "r.io" in str(info.value)


def test_failing_helper(write_config: WriteConfig, make_helper: MakeHelper, env: dict[str, str]) -> None:
    make_helper("test", "echo 'keychain is locked' >&2\nexit 2\n")
    path = write_config({"credHelpers": {"r.io": "test"}})
    with pytest.raises(CredentialsError) as info:
        load_docker_credential("r.io", config_path=path, env=env)
    assert str(info.value) == (
        "credential helper docker-credential-test failed for r.io (exit 2): keychain is locked"
    )


def test_failing_helper_output_with_a_secret_is_not_echoed(
    write_config: WriteConfig, make_helper: MakeHelper, env: dict[str, str]
) -> None:
    make_helper("test", answer("u", SECRET) + "exit 1\n")
    path = write_config({"credHelpers": {"r.io": "test"}})
    with pytest.raises(CredentialsError) as info:
        load_docker_credential("r.io", config_path=path, env=env)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    "output",
    [f"not json {SECRET}", "[]", json.dumps({"Username": "u"}), json.dumps({"Secret": SECRET})],
)
def test_malformed_helper_output(
    write_config: WriteConfig, make_helper: MakeHelper, env: dict[str, str], output: str
) -> None:
    make_helper("test", f"cat <<'EOF'\n{output}\nEOF\n")
    path = write_config({"credHelpers": {"r.io": "test"}})
    with pytest.raises(CredentialsError, match=r"gave malformed output for r\.io") as info:
        load_docker_credential("r.io", config_path=path, env=env)
    assert SECRET not in str(info.value)


def test_helper_output_that_is_not_utf8(
    write_config: WriteConfig, make_helper: MakeHelper, env: dict[str, str]
) -> None:
    make_helper("test", "printf '\\377\\376'\n")
    path = write_config({"credHelpers": {"r.io": "test"}})
    with pytest.raises(CredentialsError, match="malformed output"):
        load_docker_credential("r.io", config_path=path, env=env)


def test_helper_time_limit(
    write_config: WriteConfig,
    make_helper: MakeHelper,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(credentials, "HELPER_TIMEOUT", 0.3)
    make_helper("slow", "exec sleep 10\n")
    path = write_config({"credsStore": "slow"})
    with pytest.raises(CredentialsError, match=r"did not answer for r\.io within 0\.3 s"):
        load_docker_credential("r.io", config_path=path, env=env)


def test_helper_that_cannot_run(write_config: WriteConfig, tmp_path: Path, env: dict[str, str]) -> None:
    script = tmp_path / "bin" / "docker-credential-broken"
    script.write_text("not a script at all")
    script.chmod(0o755)
    path = write_config({"credsStore": "broken"})
    with pytest.raises(CredentialsError, match="docker-credential-broken"):
        load_docker_credential("r.io", config_path=path, env=env)
