"""Where registry credentials come from: flags, and the Docker CLI's config and helpers.

People already run `docker login` (or a cloud helper), so we read the same config the
same way the docker CLI does instead of asking for secrets twice. Secrets live only in
`Secret` and never reach an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CredentialsError
from ..types.reference import DOCKER_HUB, normalise_registry_host
from ..types.secret import Secret

TOKEN_USERNAME = "<token>"
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
HELPER_TIMEOUT = 30.0


class HelperMissingError(CredentialsError):
    """The Docker config names a credential helper that is not on PATH.

    Raised only when there is no other credential for the registry; the caller may hold
    it back until the registry actually asks for credentials (a public registry never does).
    """


@dataclass(frozen=True)
class Credential:
    """A username and password; with username "<token>" the password is an identity token."""

    username: str
    password: Secret

    @property
    def is_identity_token(self) -> bool:
        return self.username == TOKEN_USERNAME


def parse_user_password(text: str, *, what: str) -> Credential:
    """Split `USER:PASSWORD` at the first colon, so passwords may contain colons.

    One trailing newline is dropped, as `docker login --password-stdin` does, because
    CI secrets often carry one. Errors name `what` (e.g. "--src-creds"), never the input.
    """
    text = text.removesuffix("\n").removesuffix("\r")
    username, colon, password = text.partition(":")
    if not colon:
        raise CredentialsError(f"{what} must be USER:PASSWORD, but it has no ':'")
    if not username:
        raise CredentialsError(f"{what} must be USER:PASSWORD, but the user is empty")
    if not password:
        raise CredentialsError(f"{what} must be USER:PASSWORD, but the password is empty")
    return Credential(username, Secret(password))


def docker_config_path(env: Mapping[str, str] = os.environ) -> Path:
    """`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, as the docker CLI looks."""
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]) / "config.json"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".docker" / "config.json"


def load_docker_credential(
    registry: str,
    *,
    config_path: Path | None = None,
    env: Mapping[str, str] = os.environ,
) -> Credential | None:
    """The credential docker would use for `registry` (host[:port]), or None if it has none.

    Order as in the docker CLI: a `credHelpers` entry for the host, else `credsStore`,
    then the inline `auths` entry (also when the helper answers "not found").
    """
    path = config_path if config_path is not None else docker_config_path(env)
    config = _read_config(path)
    host = _host_key(registry)

    helpers = _section(config, "credHelpers", path)
    store = config.get("credsStore")
    helper = next((name for key, name in helpers.items() if _host_key(key) == host), store)
    missing: HelperMissingError | None = None
    if helper:  # an empty name means "the inline auths", as in the docker CLI
        if not isinstance(helper, str):
            raise CredentialsError(f"{path}: the credential helper name must be a string")
        try:
            credential = _run_helper(helper, host, path, env)
        except HelperMissingError as e:
            credential, missing = None, e
        if credential is not None:
            return credential

    auths = _section(config, "auths", path)
    matches = [key for key in auths if _host_key(key) == host]
    # Prefer the key spelled as `docker login` writes it; then any other spelling.
    preferred = DOCKER_HUB_SERVER if host == DOCKER_HUB else host
    matches.sort(key=lambda key: key != preferred)
    for key in matches:
        credential = _from_auth_entry(auths[key], key, path)
        if credential is not None:
            return credential
    if missing is not None:
        raise missing
    return None


def _read_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise CredentialsError(f"cannot read Docker config {path}: {reason}") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg describes the syntax error without quoting the file's content.
        raise CredentialsError(
            f"Docker config {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(config, dict):
        raise CredentialsError(f"Docker config {path} is not a JSON object")
    return config


def _section(config: Mapping[str, Any], name: str, path: Path) -> dict[str, Any]:
    section = config.get(name)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise CredentialsError(f"Docker config {path}: {name!r} is not a JSON object")
    return section


def _host_key(key: str) -> str:
    """Reduce a config key or registry (`https://host:port/v1/`) to a comparable host[:port]."""
    host = key.strip().lower()
    for scheme in ("https://", "http://"):
        host = host.removeprefix(scheme)
    return normalise_registry_host(host.split("/", 1)[0])


def _from_auth_entry(entry: object, key: str, path: Path) -> Credential | None:
    if not isinstance(entry, dict):
        raise CredentialsError(f"Docker config {path}: auths[{key!r}] is not a JSON object")
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return Credential(TOKEN_USERNAME, Secret(token))
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        return _usable(*_decode_auth(auth, key, path))
    return _usable(entry.get("username"), entry.get("password"))


def _usable(username: object, password: object) -> Credential | None:
    if isinstance(username, str) and username and isinstance(password, str) and password:
        return Credential(username, Secret(password))
    return None


def _decode_auth(auth: str, key: str, path: Path) -> tuple[str, str]:
    problem = f"Docker config {path}: auths[{key!r}].auth is not base64 of USER:PASSWORD"
    try:
        decoded = base64.b64decode(auth, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise CredentialsError(problem) from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise CredentialsError(problem)
    return username, password


def _run_helper(name: str, host: str, path: Path, env: Mapping[str, str]) -> Credential | None:
    """Ask `docker-credential-<name> get`; None when it has nothing for this server."""
    program = f"docker-credential-{name}"
    server = DOCKER_HUB_SERVER if host == DOCKER_HUB else host
    executable = shutil.which(program, path=env.get("PATH", os.defpath))
    if executable is None:
        raise HelperMissingError(
            f"credential helper {program} (configured in {path} for {host}) is not on PATH"
        )
    try:
        result = subprocess.run(
            [executable, "get"],
            input=server,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            env=dict(env),
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CredentialsError(
            f"credential helper {program} did not answer for {host} within {HELPER_TIMEOUT:g} s"
        ) from None
    except OSError as exc:
        raise CredentialsError(f"cannot run credential helper {program}: {exc.strerror}") from None

    if result.returncode != 0:
        output = (result.stdout.strip() or result.stderr.strip()).splitlines()
        first_line = output[0][:200] if output else ""
        if "credentials not found" in first_line.lower():
            return None
        # Echo the helper's complaint to help debugging, unless it could carry a secret.
        detail = f": {first_line}" if first_line and "secret" not in first_line.lower() else ""
        raise CredentialsError(
            f"credential helper {program} failed for {host} (exit {result.returncode}){detail}"
        )
    return _parse_helper_answer(result.stdout, program, host)


def _parse_helper_answer(stdout: str, program: str, host: str) -> Credential | None:
    try:
        answer = json.loads(stdout)
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        raise CredentialsError(f"credential helper {program} gave malformed output for {host}")
    username, secret = answer.get("Username"), answer.get("Secret")
    if not isinstance(username, str) or not isinstance(secret, str):
        raise CredentialsError(f"credential helper {program} gave malformed output for {host}")
    return Credential(username, Secret(secret)) if secret else None
