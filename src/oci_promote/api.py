"""The library entry points: explicit options in, a `CopyResult` out, events on the side;
`diff` and `verify` (read-only: why two digests differ, whether references hold a digest).

Data flows one way: options -> storages -> image graph -> inventory -> plan ->
execute -> verify -> result (see `engine/copy.py`). Nothing here reads the
environment (beyond the Docker config location, as every registry client does);
the CLI and the Action build the options from theirs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from functools import partial, wraps
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import anyio

from .causes import Comparison
from .concurrency import DEFAULT_JOBS
from .connect import Connections
from .engine.copy import Endpoint, run_copy
from .errors import UsageError
from .events import EventCallback
from .forensics.reader import DEFAULT_LIMITS, Limits, SourceReader
from .options import ConnectOptions, CopyOptions, CredentialProvider, as_tuple, copy_options
from .referrers.carry import ReferrerOptions
from .result import CopyResult
from .storage.source import at_digest, image_source
from .storage.verified import load_top
from .transport.credentials import Credential
from .types.digest import Digest, parse_digest
from .types.location import LayoutReference, Location, parse_location

if TYPE_CHECKING:
    from .forensics.verify import VerifyOutcome

P = ParamSpec("P")
R = TypeVar("R")


async def copy_async(options: CopyOptions, *, on_event: EventCallback | None = None) -> CopyResult:
    """Copy `options.source` to every destination, preserving the manifest digest."""
    async with AsyncExitStack() as stack:
        connections = Connections(options.connect, stack, jobs=options.jobs)
        source = image_source(options.source, connections.source(options.source, options.source_credential))
        endpoints = [
            Endpoint(
                d.name,
                d.tag,
                d.digest,
                connections.destination(d, options.destination_credential, options.source),
            )
            for d in options.destinations
        ]
        witness = options.expected_from
        expected_from = (
            at_digest(connections.source(witness, options.source_credential), options.expected_digest)
            if witness is not None and options.expected_digest is not None
            else None
        )
        return await run_copy(
            source,
            endpoints,
            expected=options.expected_digest,
            expected_from=expected_from,
            protect=options.protect,
            dry_run=options.dry_run,
            jobs=options.jobs,
            include_foreign_layers=options.include_foreign_layers,
            referrers=ReferrerOptions(options.referrers, options.referrer_types, options.require_referrers),
            on_event=on_event,
        )


def copy(
    source: str,
    destinations: Sequence[str],
    *,
    expected_digest: str | Digest | None = None,
    expected_from: str | None = None,
    protect: Sequence[str] = (),
    dry_run: bool = False,
    jobs: int = DEFAULT_JOBS,
    include_foreign_layers: bool = False,
    src_creds: str | Credential | None = None,
    dest_creds: str | Credential | None = None,
    docker_config: str | Path | None = None,
    credential_provider: CredentialProvider | None = None,
    insecure_registries: Sequence[str] = (),
    plain_http: Sequence[str] = (),
    https_only: Sequence[str] = (),
    ca_file: str | Path | None = None,
    timeout: float = 60.0,
    retries: int = 4,
    retry_delay: float = 0.5,
    retry_max_delay: float = 10.0,
    retry_after_cap: float = 60.0,
    retry_budget: int = 100,
    chunk_size: int = 4 * 1024 * 1024,
    chunked: bool = False,
    referrers: bool = True,
    referrer_types: Sequence[str] = (),
    require_referrers: Sequence[str] = (),
    on_event: EventCallback | None = None,
) -> CopyResult:
    """Copy `source` to every destination, byte for byte; see `CopyOptions` for the options.

    Credentials: `src_creds`/`dest_creds` (`USER:PASSWORD` or a Credential), else the
    Docker config file, else `credential_provider(host)`, else anonymous.
    """
    connect = ConnectOptions(
        docker_config=Path(docker_config) if docker_config is not None else None,
        credential_provider=credential_provider,
        insecure_registries=as_tuple(insecure_registries, "insecure_registries"),
        plain_http=as_tuple(plain_http, "plain_http"),
        https_only=as_tuple(https_only, "https_only"),
        ca_file=Path(ca_file) if ca_file is not None else None,
        timeout=timeout,
        retries=retries,
        retry_delay=retry_delay,
        retry_max_delay=retry_max_delay,
        retry_after_cap=retry_after_cap,
        retry_budget=retry_budget,
        chunk_size=chunk_size,
        chunked=chunked,
    )
    options = copy_options(
        source,
        destinations,
        expected_digest=expected_digest,
        expected_from=expected_from,
        protect=protect,
        dry_run=dry_run,
        jobs=jobs,
        include_foreign_layers=include_foreign_layers,
        src_creds=src_creds,
        dest_creds=dest_creds,
        connect=connect,
        referrers=referrers,
        referrer_types=referrer_types,
        require_referrers=require_referrers,
    )
    return anyio.run(partial(copy_async, options, on_event=on_event))


async def resolve_digest_async(
    reference: str | Location, *, credential: Credential | None = None, connect: ConnectOptions | None = None
) -> Digest:
    """The digest of a reference: from a HEAD when the registry sends it, else GET and hash."""
    location = _location(reference)
    async with AsyncExitStack() as stack:
        source = image_source(
            location, Connections(connect or ConnectOptions(), stack).source(location, credential)
        )
        if location.digest is None and not isinstance(location, LayoutReference):
            found = await source.storage.resolve(source.target)
            if found is not None:
                return found
        return (await load_top(source.storage, source.target, location.digest, source.description)).digest


async def diff_async(
    a: str | Location,
    b: str | Location,
    *,
    credential: Credential | None = None,
    connect: ConnectOptions | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Comparison:
    """Why the images A and B name have different digests: `causes` is empty exactly when
    they are the same. A PromoteError when either cannot be read (or is hostile)."""
    from .forensics.compare import explain  # diff's own code: not loaded by a copy

    async with AsyncExitStack() as stack:
        connections = Connections(connect or ConnectOptions(), stack)
        reader_a, reader_b = (_reader(connections, _location(r), credential) for r in (a, b))
        return await explain(reader_a, reader_b, limits=limits)


async def verify_async(
    references: Sequence[str | Location],
    digest: str | Digest,
    *,
    credential: Credential | None = None,
    connect: ConnectOptions | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> list[VerifyOutcome]:
    """Whether each reference resolves to `digest`, in the order given (each once); a mismatch
    names its causes when `digest` can be read in that reference's repository. Never writes."""
    from .forensics.verify import verify_all  # verify's own code: not loaded by a copy

    expected = parse_digest(digest.strip()) if isinstance(digest, str) else digest
    if isinstance(references, str):
        raise UsageError(f"references must be a list, not the string {references!r}")
    locations = list(dict.fromkeys(_location(r) for r in references))
    async with AsyncExitStack() as stack:
        connections = Connections(connect or ConnectOptions(), stack)
        pairs = []
        for location in locations:
            storage = connections.source(location, credential)
            found = SourceReader(image_source(location, storage))
            pairs.append((found, SourceReader(at_digest(storage, expected, location.name))))
        return await verify_all(pairs, limits=limits)


def _blocking(work: Callable[P, Awaitable[R]]) -> Callable[P, R]:
    """The blocking form of an async entry point: the same arguments, run in its own event loop."""

    @wraps(work)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return anyio.run(partial(work, *args, **kwargs))

    return run


resolve_digest = _blocking(resolve_digest_async)
diff = _blocking(diff_async)
verify = _blocking(verify_async)


def _location(reference: str | Location) -> Location:
    return parse_location(reference) if isinstance(reference, str) else reference


def _reader(connections: Connections, location: Location, credential: Credential | None) -> SourceReader:
    return SourceReader(image_source(location, connections.source(location, credential)))


__all__ = [
    "copy",
    "copy_async",
    "diff",
    "diff_async",
    "resolve_digest",
    "resolve_digest_async",
    "verify",
    "verify_async",
]
