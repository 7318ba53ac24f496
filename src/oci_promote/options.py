"""The library's options: plain frozen values, parsed and checked once, read from no environment.

`CopyOptions` says what to copy where; `ConnectOptions` how to reach registries.
Both are built from arguments only: the CLI and the Action read their inputs
(`frontend/settings.py`) and build these. Defaults and numeric bounds come from the option
schema (`schema.py`), as the front ends' do. Every check raises our `UsageError` tree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .concurrency import DEFAULT_JOBS as DEFAULT_JOBS  # re-exported: the options' default
from .errors import UsageError
from .schema import BOUNDS, BY_NAME, default
from .transport.client import RetryPolicy, TransportOptions
from .transport.credentials import Credential, parse_user_password
from .types.digest import Digest, parse_digest
from .types.location import Location as Location  # re-exported
from .types.location import parse_location as parse_location
from .types.reference import parse_registry_host

#: Called with a registry host when neither an explicit credential nor the Docker config
#: has one; returns a credential or None (anonymous). The Action's GitHub token comes so.
CredentialProvider = Callable[[str], Credential | None]


#: What an empty expected digest is told: it is refused, never read as "no check".
EMPTY_DIGEST = "give the digest (sha256:...), or no expected digest at all"


def _check_numbers(options: object) -> None:
    for f in fields(options):  # type: ignore[arg-type]
        if f.name in BOUNDS:
            kind = float if BY_NAME[f.name].kind == "float" else int
            BOUNDS[f.name].check(f.name, getattr(options, f.name), kind)


@dataclass(frozen=True)
class ConnectOptions:
    """How to reach registries: credentials beyond the explicit ones, TLS, retries, uploads."""

    #: Docker config file (or its directory); None: $DOCKER_CONFIG/config.json, else ~/.docker.
    docker_config: Path | None = None
    credential_provider: CredentialProvider | None = None
    #: Registries (host[:port]) spoken to in plain HTTP; loopback registries always are.
    insecure_registries: tuple[str, ...] = ()
    #: Registries always spoken to in plain HTTP / always in HTTPS (no plain-HTTP fallback).
    plain_http: tuple[str, ...] = ()
    https_only: tuple[str, ...] = ()
    ca_file: Path | None = None
    timeout: float = default("timeout")
    retries: int = default("retries")
    retry_delay: float = default("retry_delay")
    retry_max_delay: float = default("retry_max_delay")
    retry_after_cap: float = default("retry_after_cap")
    retry_budget: int = default("retry_budget")
    chunk_size: int = default("chunk_size")
    chunked: bool = default("chunked")

    def __post_init__(self) -> None:
        _check_numbers(self)
        for name in ("insecure_registries", "plain_http", "https_only"):
            hosts = tuple(parse_registry_host(h) for h in as_tuple(getattr(self, name), name))
            object.__setattr__(self, name, hosts)
        for name in ("docker_config", "ca_file"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        if self.credential_provider is not None and not callable(self.credential_provider):
            raise UsageError("credential_provider must be a callable taking a registry host")

    def transport(self) -> TransportOptions:
        return TransportOptions(
            insecure_registries=self.insecure_registries,
            plain_http=self.plain_http,
            https_only=self.https_only,
            ca_file=str(self.ca_file) if self.ca_file else None,
            timeout=self.timeout,
            retry=RetryPolicy(
                attempts=self.retries + 1,
                base_delay=self.retry_delay,
                max_delay=self.retry_max_delay,
                max_retry_after=self.retry_after_cap,
                budget=self.retry_budget,
            ),
        )


@dataclass(frozen=True)
class CopyOptions:
    """What to copy where. Build it with `copy_options()` from text, or directly from typed values."""

    source: Location
    destinations: tuple[Location, ...]
    expected_digest: Digest | None = None
    #: Where the expected digest can be read to name the causes of a mismatch: this
    #: repository (or layout) at the expected digest. Default: the source's repository.
    expected_from: Location | None = None
    #: Destination tag patterns (shell-style, `*` every tag) never moved to another digest.
    protect: tuple[str, ...] = ()
    dry_run: bool = default("dry_run")
    jobs: int = DEFAULT_JOBS
    include_foreign_layers: bool = default("include_foreign_layers")
    source_credential: Credential | None = None
    destination_credential: Credential | None = None
    connect: ConnectOptions = field(default_factory=ConnectOptions)
    #: Copy the source's referrers (signatures, attestations, SBOMs) too.
    referrers: bool = default("referrers")
    #: Only referrers of these artifact types (empty: all).
    referrer_types: tuple[str, ...] = ()
    #: Refuse to copy unless the source has a referrer of each of these artifact types.
    require_referrers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_numbers(self)
        for name in ("protect", "referrer_types", "require_referrers"):
            object.__setattr__(self, name, as_tuple(getattr(self, name), name))
        if not self.destinations:
            raise UsageError("no destination given")
        for name in ("dry_run", "include_foreign_layers", "referrers"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{name} must be True or False, got {getattr(self, name)!r}")
        object.__setattr__(self, "protect", as_tuple(self.protect, "protect"))
        if any(not isinstance(p, str) or not p.strip() for p in self.protect):
            raise UsageError(f"protect patterns must be non-empty text, got {list(self.protect)!r}")
        if self.expected_from is not None:
            if self.expected_digest is None:
                raise UsageError("--expected-from needs --expected-digest: it says where that digest is")
            if self.expected_from.digest not in (None, self.expected_digest):
                raise UsageError(
                    f"--expected-from {self.expected_from} names another digest than the expected "
                    f"{self.expected_digest}"
                )


def as_tuple(values: Sequence[str], name: str) -> tuple[str, ...]:
    """A list argument as a tuple; a lone string (a likely slip) is refused, not split into letters."""
    if isinstance(values, str):
        raise UsageError(f"{name} must be a list, not the string {values!r}")
    return tuple(values)


def parse_destinations(texts: Sequence[str], source: Location) -> tuple[Location, ...]:
    """Destinations in order, duplicates dropped; one without tag or digest takes the source's tag."""
    out: dict[str, Location] = {}
    for text in as_tuple(texts, "destinations"):
        location = parse_location(text, default_tag=None)
        if location.tag is None and location.digest is None:
            location = location.with_tag(source.tag)
        out.setdefault(f"{location.name}:{location.tag}@{location.digest}", location)
    return tuple(out.values())


def parse_credential(value: str | Credential | None, role: str) -> Credential | None:
    """`USER:PASSWORD` text or a Credential; never echoes the value in an error."""
    if value is None or isinstance(value, Credential):
        return value
    if isinstance(value, str):
        return parse_user_password(value, what=f"{role} credentials") if value else None
    raise UsageError(
        f"{role} credentials must be 'USER:PASSWORD' or a Credential, not {type(value).__name__}"
    )


def copy_options(
    source: str | Location,
    destinations: Sequence[str],
    *,
    expected_digest: str | Digest | None = None,
    expected_from: str | Location | None = None,
    protect: Sequence[str] = (),
    dry_run: bool = False,
    jobs: int = DEFAULT_JOBS,
    include_foreign_layers: bool = False,
    src_creds: str | Credential | None = None,
    dest_creds: str | Credential | None = None,
    connect: ConnectOptions | None = None,
    referrers: bool = True,
    referrer_types: Sequence[str] = (),
    require_referrers: Sequence[str] = (),
) -> CopyOptions:
    """Parse references, digest and credentials once into a `CopyOptions`."""
    if isinstance(source, str) and not source:
        raise UsageError("no source given")
    location = parse_location(source) if isinstance(source, str) else source
    expected: Any = expected_digest
    if isinstance(expected, str):
        # A blank digest is refused, not read as "no check": a guard that an empty build
        # output turns off would fail open.
        if not expected.strip():
            raise UsageError(f"expected_digest is empty ({EMPTY_DIGEST})")
        expected = parse_digest(expected.strip())
    elif expected is not None and not isinstance(expected, Digest):
        raise UsageError(f"expected_digest must be a digest string, got {type(expected).__name__}")
    return CopyOptions(
        source=location,
        destinations=parse_destinations(destinations, location),
        expected_digest=expected,
        expected_from=parse_location(expected_from) if isinstance(expected_from, str) else expected_from,
        protect=as_tuple(protect, "protect"),
        dry_run=dry_run,
        jobs=jobs,
        include_foreign_layers=include_foreign_layers,
        source_credential=parse_credential(src_creds, "source"),
        destination_credential=parse_credential(dest_creds, "destination"),
        connect=connect if connect is not None else ConnectOptions(),
        referrers=referrers,
        referrer_types=as_tuple(referrer_types, "referrer_types"),
        require_referrers=as_tuple(require_referrers, "require_referrers"),
    )
