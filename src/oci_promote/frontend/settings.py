"""The CLI's and the Action's inputs: read from arguments and `OCI_PROMOTE_*` variables, once.

These settings are the front ends' only: they read the environment and build the
library's explicit options (`to_options`), which read nothing. A frozen dataclass and
the standard library, not a validation framework: the CLI pays for every import before
its first request, and all this needs is to read text and convert it. Numeric ranges
come from `options.BOUNDS`, so the library and these settings agree.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from ..errors import CredentialsError, UsageError
from ..options import BOUNDS, DEFAULT_JOBS, ConnectOptions, CopyOptions, CredentialProvider, copy_options
from ..transport.credentials import Credential, parse_user_password
from ..types.digest import Digest, parse_digest
from ..types.secret import Secret

ENV_PREFIX = "OCI_PROMOTE_"
_DEFAULT = ConnectOptions()
#: The spellings of a switch's value (any case), as `1`, `true`, `yes`, `on` and their opposites.
_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "f", "n"})
#: Arguments whose flag is not `--` + the field's name with dashes.
_FLAGS = {
    "source": "SOURCE",
    "destinations": "DEST",
    "insecure_registries": "--insecure-registry",
    "referrer_types": "--referrer-type",
    "require_referrers": "--require-referrer",
}
_S = TypeVar("_S", bound="Settings")


def env_name(field_name: str) -> str:
    """The variable that sets a field: `OCI_PROMOTE_` and the name in capitals."""
    return ENV_PREFIX + field_name.upper()


def flag_name(field_name: str) -> str:
    """The command-line argument that sets a field, as errors name it."""
    return _FLAGS.get(field_name, "--" + field_name.replace("_", "-"))


def split_list(text: str) -> tuple[str, ...]:
    """Text separated by newlines and commas (as workflow inputs are), blanks dropped."""
    return tuple(item.strip() for line in text.splitlines() for item in line.split(",") if item.strip())


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
class Settings:
    source: str = ""
    destinations: tuple[str, ...] = ()
    expected_digest: str | None = None
    expected_from: str | None = None
    protect: tuple[str, ...] = ()
    src_creds: Secret | None = None
    dest_creds: Secret | None = None
    src_username: str | None = None
    src_password: Secret | None = None
    dest_username: str | None = None
    dest_password: Secret | None = None
    docker_config: Path | None = None
    insecure_registries: tuple[str, ...] = ()
    plain_http: tuple[str, ...] = ()
    https_only: tuple[str, ...] = ()
    ca_file: Path | None = None
    dry_run: bool = False
    jobs: int = DEFAULT_JOBS
    include_foreign_layers: bool = False
    timeout: float = _DEFAULT.timeout
    retries: int = _DEFAULT.retries
    retry_delay: float = _DEFAULT.retry_delay
    retry_max_delay: float = _DEFAULT.retry_max_delay
    retry_after_cap: float = _DEFAULT.retry_after_cap
    retry_budget: int = _DEFAULT.retry_budget
    chunk_size: int = _DEFAULT.chunk_size
    chunked: bool = False
    referrers: bool = True
    referrer_types: tuple[str, ...] = ()
    require_referrers: tuple[str, ...] = ()

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

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
        env = {name.upper(): text for name, text in (os.environ if environ is None else environ).items()}
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        for f in fields(cls):
            if given is not None and f.name in given:
                origin, raw = flag_name(f.name), given[f.name]
            elif env_name(f.name) in env:
                origin, raw = env_name(f.name), env[env_name(f.name)]
            else:
                continue
            if trim and isinstance(raw, str):
                raw = raw.strip()
                if not raw:
                    continue
            try:
                values[f.name] = _convert(f, raw)
            except ValueError as e:
                problems.append(Problem(f.name, origin, str(e)))
        return cls(**values), problems

    def expected(self) -> Digest | None:
        return parse_digest(self.expected_digest.strip()) if self.expected_digest else None

    def source_credential(self) -> Credential | None:
        return _credential(self.src_creds, self.src_username, self.src_password, "source")

    def destination_credential(self) -> Credential | None:
        return _credential(self.dest_creds, self.dest_username, self.dest_password, "destination")

    def credential_provider(self) -> CredentialProvider | None:
        """Where credentials come from after the explicit ones and the Docker config (none here)."""
        return None

    def connect_options(self) -> ConnectOptions:
        return ConnectOptions(
            docker_config=self.docker_config,
            credential_provider=self.credential_provider(),
            insecure_registries=self.insecure_registries,
            plain_http=self.plain_http,
            https_only=self.https_only,
            ca_file=self.ca_file,
            timeout=self.timeout,
            retries=self.retries,
            retry_delay=self.retry_delay,
            retry_max_delay=self.retry_max_delay,
            retry_after_cap=self.retry_after_cap,
            retry_budget=self.retry_budget,
            chunk_size=self.chunk_size,
            chunked=self.chunked,
        )

    def plain_options(self) -> dict[str, Any]:
        """The copy options that need no parsing, as `CopyOptions` keywords (CLI and Action)."""
        return {
            "dry_run": self.dry_run,
            "jobs": self.jobs,
            "include_foreign_layers": self.include_foreign_layers,
            "protect": self.protect,
            "referrers": self.referrers,
            "referrer_types": self.referrer_types,
            "require_referrers": self.require_referrers,
        }

    def to_options(self) -> CopyOptions:
        """The library's options; every reference, digest and credential parsed here, once."""
        if not self.source:
            raise UsageError("no source given")
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


def _credential(
    pair: Secret | None, username: str | None, password: Secret | None, role: str
) -> Credential | None:
    if pair is not None and pair.get_secret_value():
        return parse_user_password(pair.get_secret_value(), what=f"{role} credentials")
    if username and password is not None and password.get_secret_value():
        return Credential(username, password)
    if username or (password is not None and password.get_secret_value()):
        raise CredentialsError(f"{role} credentials need both a username and a password")
    return None


def _convert(f: Field[Any], raw: object) -> object:
    """A flag's value or a variable's text as the field's type, in range; ValueError says why."""
    kind = str(f.type)
    value = _KINDS[kind][0](raw) if isinstance(raw, str) else raw
    if not isinstance(value, _KINDS[kind][1]) or (isinstance(value, bool) and kind in ("int", "float")):
        raise ValueError(f"must be {_WHAT[kind]}")
    if kind == "tuple[str, ...]":
        value = tuple(map(str, value))  # type: ignore[call-overload]
    choices = f.metadata.get("choices")
    if choices is not None and value not in choices:
        raise ValueError("must be " + " or ".join(choices))
    if f.name in BOUNDS:
        bound, number = BOUNDS[f.name]
        try:
            bound.check(f.name, value, number)
        except UsageError as e:
            raise ValueError(str(e).removeprefix(f.name + " ")) from None
    return float(value) if kind == "float" else value  # type: ignore[arg-type]


def _switch(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError("must be true or false (or 1/0, yes/no, on/off)")


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)  # "8.0", as the model read before
    except ValueError:
        number = math.nan
    if not number.is_integer():
        raise ValueError("must be an integer")
    return int(number)


def _number(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    return number


def _optional_text(text: str) -> str | None:
    return text if text.strip() else None


def _optional_path(text: str) -> Path | None:
    return Path(text) if text.strip() else None


#: Field type -> (reader of a variable's text, the types a flag's value may have).
_KINDS: dict[str, tuple[Callable[[str], object], tuple[type, ...]]] = {
    "str": (str, (str,)),
    "str | None": (_optional_text, (str, type(None))),
    "tuple[str, ...]": (split_list, (tuple, list)),
    "Secret | None": (Secret, (Secret, type(None))),
    "Path | None": (_optional_path, (Path, type(None))),
    "bool": (_switch, (bool,)),
    "int": (_integer, (int,)),
    "float": (_number, (int, float)),
}
_WHAT = {
    "str": "text",
    "str | None": "text",
    "tuple[str, ...]": "a list of text",
    "Secret | None": "text",
    "Path | None": "a path",
    "bool": "true or false",
    "int": "an integer",
    "float": "a number",
}
