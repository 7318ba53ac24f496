"""Every input, validated once, shared by the CLI and the GitHub Action.

Values come from the command line (the CLI passes them in) or from
`OCI_PROMOTE_*` environment variables; validation happens here, before any
request is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .credentials import Credential, parse_user_password
from .digest import Digest, parse_digest
from .errors import CredentialsError

ENV_PREFIX = "OCI_PROMOTE_"


def split_list(value: Any) -> Any:
    """Accept a list, or text separated by newlines and commas (as workflow inputs are)."""
    if isinstance(value, str):
        return [item.strip() for line in value.splitlines() for item in line.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    source: str = ""
    destinations: Annotated[list[str], NoDecode] = Field(default_factory=list)
    expected_digest: str | None = None
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
    jobs: int = Field(default=4, ge=1, le=64)
    include_foreign_layers: bool = False
    timeout: float = Field(default=60.0, gt=0, le=3600)
    retries: int = Field(default=4, ge=0, le=20)
    retry_delay: float = Field(default=0.5, ge=0, le=60)
    retry_max_delay: float = Field(default=10.0, ge=0, le=600)
    retry_after_cap: float = Field(default=60.0, ge=0, le=3600)
    retry_budget: int = Field(default=100, ge=0, le=10000)
    chunk_size: int = Field(default=4 * 1024 * 1024, ge=64 * 1024, le=1024 * 1024 * 1024)
    chunked: bool = False
    #: The GitHub Action's `github-token`: used for ghcr.io when no other credential is found.
    github_token: SecretStr | None = None

    _split_lists = field_validator(
        "destinations", "insecure_registries", "plain_http", "https_only", mode="before"
    )(split_list)

    @field_validator("expected_digest", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    def expected(self) -> Digest | None:
        return parse_digest(self.expected_digest.strip()) if self.expected_digest else None

    def source_credential(self) -> Credential | None:
        return _credential(self.src_creds, self.src_username, self.src_password, "source")

    def destination_credential(self) -> Credential | None:
        return _credential(self.dest_creds, self.dest_username, self.dest_password, "destination")


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
