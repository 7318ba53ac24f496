"""The Action's inputs: read from `OCI_PROMOTE_*` once, trimmed, and checked all at once.

action.yml passes each input as an `OCI_PROMOTE_<FIELD>` variable; the CLI's `Settings`
model reads them. Every input is trimmed the same way (as `@actions/core` does), secrets
included, and every wrong input is collected before the run stops: one problem per input,
in input order, and no request sent. Parsing happens here, once: the run gets typed values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import UsageError
from ..frontend.settings import ENV_PREFIX, Settings
from ..options import ConnectOptions, CopyOptions, CredentialProvider, Location, parse_location
from ..transport.credentials import Credential
from ..types.digest import Digest
from ..types.location import is_layout_reference, parse_layout_reference
from ..types.reference import parse_registry_host
from ..types.secret import Secret
from .ghcr import github_token_provider

#: action.yml input -> Settings field. action.yml passes each as OCI_PROMOTE_<FIELD>;
#: tests/action keeps action.yml, this table and the README in step.
INPUTS: dict[str, str] = {
    "source": "source",
    "destinations": "destinations",
    "expected-digest": "expected_digest",
    "mode": "mode",
    "source-username": "src_username",
    "source-password": "src_password",
    "destination-username": "dest_username",
    "destination-password": "dest_password",
    "github-token": "github_token",
    "docker-config": "docker_config",
    "insecure-registries": "insecure_registries",
    "dry-run": "dry_run",
    "jobs": "jobs",
    "include-foreign-layers": "include_foreign_layers",
    "protect-tags": "protect",
    "referrers": "referrers",
    "referrer-types": "referrer_types",
    "require-referrers": "require_referrers",
    "file": "file",
    "shards": "shards",
    "shard": "shard",
    "lock": "lock",
}
#: Settings fields that are deliberately not inputs (still readable from OCI_PROMOTE_* env).
NOT_INPUTS: dict[str, str] = {
    "src_creds": "USER:PASSWORD form of source-username/source-password; one spelling is enough",
    "dest_creds": "USER:PASSWORD form of destination-username/destination-password",
    "ca_file": "hosted runners trust public CAs; set OCI_PROMOTE_CA_FILE in env if needed",
    "expected_from": "where a mismatching expected digest is read; OCI_PROMOTE_EXPECTED_FROM in env",
    "timeout": "the default suits CI; set OCI_PROMOTE_TIMEOUT in env if needed",
    "plain_http": "scheme override for self-hosted registries; set OCI_PROMOTE_PLAIN_HTTP in env if needed",
    "https_only": "scheme override for self-hosted registries; set OCI_PROMOTE_HTTPS_ONLY in env if needed",
    **{
        name: "transport tuning whose defaults suit CI; set OCI_PROMOTE_<NAME> in env if needed"
        for name in (
            "retries",
            "retry_delay",
            "retry_max_delay",
            "retry_after_cap",
            "retry_budget",
            "chunk_size",
            "chunked",
        )
    },
}
#: Fields whose values are masked before anything is printed.
SECRET_FIELDS = ("src_password", "dest_password", "github_token", "src_creds", "dest_creds")

_FIELD_TO_INPUT = {f: i for i, f in INPUTS.items()}
_T = TypeVar("_T")


@dataclass(frozen=True)
class InputProblem:
    input: str
    message: str


class ActionInputError(UsageError):
    """One or more inputs are wrong; nothing was sent anywhere."""

    def __init__(self, problems: Sequence[InputProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.input}: {p.message}" for p in self.problems))


@dataclass(frozen=True)
class ActionSettings(Settings):
    """The CLI's Settings plus the Action's own inputs: `mode` and a GitHub token for ghcr.io."""

    #: `copy` promotes; `verify` only checks that every destination holds `expected-digest`
    #: (or every tag of `lock`); the release modes take `file` (action/release.py).
    mode: str = field(
        default="copy", metadata={"choices": ("copy", "verify", "plan", "stage", "commit", "apply")}
    )
    #: The `github-token` input: used for ghcr.io when no other credential is found.
    github_token: Secret | None = None
    #: Release modes: the promotion file (plan, apply) or the plan (stage, commit), a path or JSON.
    file: str = ""
    #: `plan`: how many shards (`N` or `auto`); `stage`: which one (`K/N`, from the matrix).
    shards: str = "auto"
    shard: str = ""
    #: commit / apply: where to write the lock file; verify: the lock to check (path or JSON).
    lock: str = ""

    def credential_provider(self) -> CredentialProvider | None:
        return github_token_provider(self.github_token)


@dataclass(frozen=True)
class ActionInputs:
    """The inputs parsed once: what the run (copy or verify) needs, as typed values."""

    settings: ActionSettings
    #: None only in verify mode without a source.
    source: Location | None
    #: Every destination as given, in order, duplicates included (line N of `references`).
    destinations: tuple[Location, ...]
    expected: Digest | None
    connect: ConnectOptions
    source_credential: Credential | None
    destination_credential: Credential | None

    @property
    def verify(self) -> bool:
        return self.settings.mode == "verify"

    def copy_options(self) -> CopyOptions:
        """The library's options for a copy (copy mode: the source is known)."""
        assert self.source is not None
        return CopyOptions(
            source=self.source,
            destinations=tuple(dict.fromkeys(self.destinations)),
            expected_digest=self.expected,
            source_credential=self.source_credential,
            destination_credential=self.destination_credential,
            connect=self.connect,
            **self.settings.plain_options(),
        )


def read_inputs() -> ActionInputs:
    """Settings from the environment, then every check; all problems raised together."""
    problems: list[InputProblem] = []
    settings = load_settings(problems)
    return validate(settings, problems)


def load_settings(problems: list[InputProblem] | None = None) -> ActionSettings:
    """The Settings from OCI_PROMOTE_*, every input trimmed alike (secrets too; one of only
    whitespace is not given). A field that fails is noted and read as its default, so the
    checks after it still run (a bad `jobs` must not hide a bad `source`)."""
    found = problems if problems is not None else []
    settings, wrong = ActionSettings.collect(trim=True)
    # The message only: it never holds the value, which may be a secret.
    found.extend(InputProblem(_FIELD_TO_INPUT.get(p.field, p.origin), p.message) for p in wrong)
    if problems is None and found:
        raise ActionInputError(_in_input_order(found))
    return settings


def validate(settings: ActionSettings, problems: list[InputProblem] | None = None) -> ActionInputs:
    """Check every input before any request, reporting all bad inputs at once."""
    found = problems if problems is not None else []

    def parse(name: str, fn: Callable[..., _T], *args: Any) -> _T | None:
        try:
            return fn(*args)
        except UsageError as e:
            found.append(InputProblem(name, str(e)))
            return None

    verify = settings.mode == "verify"
    source: Location | None = None
    if settings.source:
        source = parse("source", _source, settings.source)
    elif not verify:
        found.append(InputProblem("source", "is required"))
    if not settings.destinations:
        found.append(InputProblem("destinations", "at least one destination is required"))
    destinations = [
        parse("destinations", _destination, t, source, settings.source) for t in settings.destinations
    ]
    expected = parse("expected-digest", settings.expected)
    if verify and settings.expected_digest is None:
        found.append(InputProblem("expected-digest", "is required when mode is verify"))
    src_credential = dest_credential = None
    if not _credentials_problem(found, "source", settings.src_username, settings.src_password):
        src_credential = parse(ENV_PREFIX + "SRC_CREDS", settings.source_credential)
    if not _credentials_problem(found, "destination", settings.dest_username, settings.dest_password):
        dest_credential = parse(ENV_PREFIX + "DEST_CREDS", settings.destination_credential)
    if settings.docker_config is not None and not settings.docker_config.exists():
        found.append(InputProblem("docker-config", f"no such file or directory: {settings.docker_config}"))
    for host in settings.insecure_registries:
        parse("insecure-registries", parse_registry_host, host)
    for name in ("referrer_types", "require_referrers"):
        for text in getattr(settings, name):
            parse(_FIELD_TO_INPUT[name], _check_media_type, text)
    connect = None if found else parse("insecure-registries", settings.connect_options)
    if found or connect is None:
        raise ActionInputError(_in_input_order(found))
    return ActionInputs(
        settings=settings,
        source=source,
        destinations=tuple(d for d in destinations if d is not None),
        expected=expected,
        connect=connect,
        source_credential=src_credential,
        destination_credential=dest_credential,
    )


def _in_input_order(problems: list[InputProblem]) -> list[InputProblem]:
    """One problem per input and message, in input order."""
    order = list(INPUTS)
    return sorted(
        dict.fromkeys(problems), key=lambda p: order.index(p.input) if p.input in order else len(order)
    )


def _source(text: str) -> Location:
    if is_layout_reference(text):
        ref = parse_layout_reference(text)
        if not (ref.path / "oci-layout").is_file():
            raise UsageError(f"{ref.path} is not an OCI image layout (it has no oci-layout file)")
        return ref
    return parse_location(text)


def _destination(text: str, source: Location | None, source_text: str) -> Location:
    """A destination without tag or digest takes the source's tag (as the library does)."""
    location = parse_location(text, default_tag=None)
    if location.tag is not None or location.digest is not None:
        return location
    if source is None and not source_text:
        raise UsageError(f"{text!r} needs a tag or a digest (no source to take the tag from)")
    return location.with_tag(source.tag) if source is not None else location


def _check_media_type(text: str) -> None:
    kind, slash, rest = text.partition("/")
    if not (kind and slash and rest) or any(c.isspace() for c in text):
        raise UsageError(f"{text!r} is not an artifact type (TYPE/SUBTYPE, e.g. application/spdx+json)")


def _credentials_problem(
    problems: list[InputProblem], role: str, username: str | None, password: Secret | None
) -> bool:
    """A username without a password or the reverse, named by the input that is missing."""
    has_password = password is not None and bool(password.get_secret_value())
    if username and not has_password:
        problems.append(InputProblem(f"{role}-password", f"is empty, but {role}-username is set"))
    elif has_password and not username:
        problems.append(InputProblem(f"{role}-username", f"is empty, but {role}-password is set"))
    else:
        return False
    return True
