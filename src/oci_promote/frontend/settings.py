"""The CLI's and the Action's inputs: flags and `OCI_PROMOTE_*` variables, read once.

pydantic-settings models, generated from the option schema (`schema.py`): one field per
option, read from the environment with `env_prefix` (names in any case), every secret a
`SecretStr`, and a validator per kind (lists split on commas and newlines, digests
checked, numbers in the library's bounds). Flags come in as the model's arguments and win
over variables. Every wrong value is reported at once, each named by its flag or
variable, by a message of ours: never a value (it may be a secret), never pydantic's
`input`. These settings are the front ends' only: they build the library's explicit
options (`to_options`), which read nothing. Imported only once `--help` is out of the way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import Field, SecretStr, ValidationError, create_model
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ..errors import CredentialsError, UsageError
from ..options import ConnectOptions, CopyOptions, CredentialProvider, copy_options
from ..schema import BY_NAME, ENV_PREFIX, OPTIONS, Scope, options_for
from ..transport.credentials import Credential, parse_user_password
from ..types.digest import Digest, parse_digest
from ..types.secret import Secret
from .kinds import WHAT, annotation, split_list

__all__ = ["ENV_PREFIX", "Problem", "Settings", "SettingsBase", "env_name", "flag_name", "split_list"]

#: The copy options that need no parsing, passed to `CopyOptions` as they are.
_PLAIN = tuple(
    o.name
    for o in OPTIONS
    if o.library == "copy" and o.kind in ("switch", "int", "float", "list") and o.name != "destinations"
)
_S = TypeVar("_S", bound="SettingsBase")


def env_name(field_name: str) -> str:
    """The variable that sets a field: `OCI_PROMOTE_` and the name in capitals."""
    return BY_NAME[field_name].env if field_name in BY_NAME else ENV_PREFIX + field_name.upper()


def flag_name(field_name: str) -> str:
    """The command-line argument that sets a field, as errors name it."""
    return BY_NAME[field_name].cli_flag


@dataclass(frozen=True)
class Problem:
    """One value that could not be read; the message never holds the value (it may be a secret)."""

    field: str
    #: Where the value came from: a flag (`--jobs`) or a variable (`OCI_PROMOTE_JOBS`).
    origin: str
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.message}"


@dataclass(frozen=True)
class _Reading:
    environ: Mapping[str, str]
    #: The Action's way: every text trimmed, secrets too, and one of only whitespace not given.
    trim: bool
    #: Fields already found wrong, read as their defaults so the rest can be checked.
    skip: frozenset[str]


_READING: ContextVar[_Reading | None] = ContextVar("oci_promote_settings_reading", default=None)


def _trimmed(values: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v.strip() if isinstance(v, str) else v for k, v in values.items()}
    return {k: v for k, v in out.items() if v != ""}


class _Environment(EnvSettingsSource):
    """`OCI_PROMOTE_*` from the mapping being read (the process environment unless one is given)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        reading = _READING.get()
        environ = os.environ if reading is None else reading.environ
        return {name.lower(): value for name, value in environ.items()}

    def __call__(self) -> dict[str, Any]:
        values = super().__call__()
        reading = _READING.get()
        if reading is None:
            return values
        values = _trimmed(values) if reading.trim else values
        return {name: value for name, value in values.items() if name not in reading.skip}


class SettingsBase(BaseSettings):
    """What both front ends do with their settings; the fields come from the schema."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
        validate_default=False,
    )

    if TYPE_CHECKING:  # the generated fields, as the code reads them

        def __getattr__(self, name: str) -> Any: ...

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags (the model's arguments) first, then OCI_PROMOTE_*; no .env file, no secrets dir.
        return init_settings, _Environment(settings_cls)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(cls.model_fields)

    @classmethod
    def read(
        cls: type[_S], given: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None
    ) -> _S:
        """Flags in `given` first, then `OCI_PROMOTE_*`; every wrong value in one UsageError line."""
        settings, problems = cls.collect(given, environ)
        if problems:
            raise UsageError("; ".join(map(str, problems)))
        return settings

    @classmethod
    def collect(
        cls: type[_S],
        given: Mapping[str, object] | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        trim: bool = False,
    ) -> tuple[_S, list[Problem]]:
        """The settings and every value that could not be read (that field keeps its default).

        Variable names are matched in any case. With `trim`, every text is trimmed (secrets
        too) and one of only whitespace counts as not given, as the Action's inputs are.
        """
        names = cls.field_names()
        flags = {name: value for name, value in (given or {}).items() if name in names}
        flags = _trimmed(flags) if trim else flags
        problems: list[Problem] = []
        skip: frozenset[str] = frozenset()
        while True:
            token = _READING.set(_Reading(os.environ if environ is None else environ, trim, skip))
            try:
                return cls(**{k: v for k, v in flags.items() if k not in skip}), problems
            except ValidationError as e:
                found = [_problem(error, flags) for error in e.errors(include_url=False, include_input=False)]
                if not {p.field for p in found} - skip:
                    raise UsageError("; ".join(map(str, found))) from None
                problems += found
                skip |= {p.field for p in found}
            finally:
                _READING.reset(token)

    def expected(self) -> Digest | None:
        return parse_digest(self.expected_digest.strip()) if self.expected_digest is not None else None

    def source_credential(self) -> Credential | None:
        return _credential(self.src_creds, self.src_username, self.src_password, "source")

    def destination_credential(self) -> Credential | None:
        return _credential(self.dest_creds, self.dest_username, self.dest_password, "destination")

    def credential_provider(self) -> CredentialProvider | None:
        """Where credentials come from after the explicit ones and the Docker config (none here)."""
        return None

    def connect_options(self) -> ConnectOptions:
        values = {o.name: getattr(self, o.name) for o in OPTIONS if o.library == "connect"}
        return ConnectOptions(credential_provider=self.credential_provider(), **values)

    def plain_options(self) -> dict[str, Any]:
        """The copy options that need no parsing, as `CopyOptions` keywords (CLI and Action)."""
        return {name: getattr(self, name) for name in _PLAIN}

    def to_options(self) -> CopyOptions:
        """The library's options; every reference, digest and credential parsed here, once."""
        if not self.source:
            raise UsageError(f"no source given (SOURCE or {env_name('source')})")
        if not self.destinations:
            raise UsageError(f"no destination given (DEST or {env_name('destinations')})")
        return copy_options(
            self.source,
            self.destinations,
            expected_digest=self.expected(),
            expected_from=self.expected_from,
            src_creds=self.source_credential(),
            dest_creds=self.destination_credential(),
            connect=self.connect_options(),
            **self.plain_options(),
        )


def model(name: str, base: type[_S], scope: Scope) -> type[_S]:
    """A settings model with one field per option of `scope`, on `base`."""
    fields: dict[str, Any] = {
        o.name: (annotation(o), Field(default=o.default, description=o.help)) for o in options_for(scope)
    }
    return create_model(name, __base__=base, __module__=base.__module__, **fields)


def _credential(
    pair: SecretStr | None, username: str | None, password: SecretStr | None, role: str
) -> Credential | None:
    if pair is not None and pair.get_secret_value():
        return parse_user_password(pair.get_secret_value(), what=f"{role} credentials")
    if username and password is not None and password.get_secret_value():
        return Credential(username, Secret(password.get_secret_value()))
    if username or (password is not None and password.get_secret_value()):
        raise CredentialsError(f"{role} credentials need both a username and a password")
    return None


def _problem(error: Any, flags: Mapping[str, object]) -> Problem:
    """Our message for one pydantic error: the validator's own words, never the input."""
    name = str(error["loc"][0])
    origin = flag_name(name) if name in flags else env_name(name)
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"])
    else:
        message = "must be " + WHAT[BY_NAME[name].kind]
    return Problem(name, origin, message)


if TYPE_CHECKING:
    Settings = SettingsBase
else:
    #: The CLI's settings: every option but the Action's own.
    Settings = model("Settings", SettingsBase, "cli")
