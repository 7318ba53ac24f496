"""The CLI's and the Action's inputs: read from arguments and `OCI_PROMOTE_*` variables, once.

This model is the front ends' only: it reads the environment (pydantic-settings)
and builds the library's explicit options (`to_options`), which read nothing.
Numeric ranges come from `options.BOUNDS`, so the library and this model agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .credentials import Credential, parse_user_password
from .digest import Digest, parse_digest
from .errors import CredentialsError, UsageError
from .options import BOUNDS, DEFAULT_JOBS, ConnectOptions, CopyOptions, CredentialProvider, copy_options

ENV_PREFIX = "OCI_PROMOTE_"
_DEFAULT = ConnectOptions()


def split_list(value: Any) -> Any:
    """Accept a list, or text separated by newlines and commas (as workflow inputs are)."""
    if isinstance(value, str):
        return [item.strip() for line in value.splitlines() for item in line.split(",") if item.strip()]
    return value


def _bounded(name: str, default: Any) -> Any:
    bound = BOUNDS[name][0]
    if bound.low_open:
        return Field(default=default, gt=bound.low, le=bound.high)
    return Field(default=default, ge=bound.low, le=bound.high)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    source: str = ""
    destinations: Annotated[list[str], NoDecode] = Field(default_factory=list)
    expected_digest: str | None = None
    expected_from: str | None = None
    protect: Annotated[list[str], NoDecode] = Field(default_factory=list)
    src_creds: SecretStr | None = None
    dest_creds: SecretStr | None = None
    src_username: str | None = None
    src_password: SecretStr | None = None
    dest_username: str | None = None
    dest_password: SecretStr | None = None
    docker_config: Path | None = None
    insecure_registries: Annotated[list[str], NoDecode] = Field(default_factory=list)
    plain_http: Annotated[list[str], NoDecode] = Field(default_factory=list)
    https_only: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ca_file: Path | None = None
    dry_run: bool = False
    jobs: int = _bounded("jobs", DEFAULT_JOBS)
    include_foreign_layers: bool = False
    timeout: float = _bounded("timeout", _DEFAULT.timeout)
    retries: int = _bounded("retries", _DEFAULT.retries)
    retry_delay: float = _bounded("retry_delay", _DEFAULT.retry_delay)
    retry_max_delay: float = _bounded("retry_max_delay", _DEFAULT.retry_max_delay)
    retry_after_cap: float = _bounded("retry_after_cap", _DEFAULT.retry_after_cap)
    retry_budget: int = _bounded("retry_budget", _DEFAULT.retry_budget)
    chunk_size: int = _bounded("chunk_size", _DEFAULT.chunk_size)
    chunked: bool = False
    referrers: bool = True
    referrer_types: Annotated[list[str], NoDecode] = Field(default_factory=list)
    require_referrers: Annotated[list[str], NoDecode] = Field(default_factory=list)

    _split_lists = field_validator(
        "destinations",
        "insecure_registries",
        "plain_http",
        "https_only",
        "protect",
        "referrer_types",
        "require_referrers",
        mode="before",
    )(split_list)

    @field_validator("expected_digest", "expected_from", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

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
            insecure_registries=tuple(self.insecure_registries),
            plain_http=tuple(self.plain_http),
            https_only=tuple(self.https_only),
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
            "protect": tuple(self.protect),
            "referrers": self.referrers,
            "referrer_types": tuple(self.referrer_types),
            "require_referrers": tuple(self.require_referrers),
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
    pair: SecretStr | None, username: str | None, password: SecretStr | None, role: str
) -> Credential | None:
    if pair is not None and pair.get_secret_value():
        return parse_user_password(pair.get_secret_value(), what=f"{role} credentials")
    if username and password is not None and password.get_secret_value():
        return Credential(username, password)
    if username or (password is not None and password.get_secret_value()):
        raise CredentialsError(f"{role} credentials need both a username and a password")
    return None
