"""The library entry points: resolve references, open one client per registry, copy.

Data flows one way: Settings -> source and destinations -> plan -> execute
-> CopyResult. The CLI and the Action are thin layers over these functions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

from .copy import (
    CopyResult,
    Destination,
    DestinationResult,
    execute,
    load_graph,
    plan,
    verify,
)
from .credentials import Credential, load_docker_credential
from .digest import Digest, parse_digest
from .errors import DigestMismatchError, UsageError
from .layout import LayoutSource, is_layout_reference, parse_layout_reference
from .reference import Reference, parse_reference
from .registry import RegistryClient, open_client
from .settings import Settings
from .sources import ImageSource, RegistrySource
from .transport import RetryPolicy, TransportOptions
from .upload import BlobUploader

log = logging.getLogger("oci_promote")

#: GitHub's registry, where the Action's `github-token` is the credential of last resort.
GHCR = "ghcr.io"
#: GHCR authenticates the token and does not check the user name (docker/login-action's
#: examples pass the actor); GITHUB_TOKEN is an app installation token, whose conventional
#: user name is this one.
GITHUB_TOKEN_USERNAME = "x-access-token"

#: Called as a copy enters a phase ("resolve", "copy", then "verify"), with the destinations'
#: results, which fill in as the copy runs (the Action groups its log and reports progress).
PhaseCallback = Callable[[str, Sequence[DestinationResult]], None]


class Registries:
    """One HTTP client and one auth state per (registry, credential), closed together."""

    def __init__(self, settings: Settings, stack: AsyncExitStack) -> None:
        self.settings = settings
        self.stack = stack
        self.transport = TransportOptions(
            insecure_registries=tuple(settings.insecure_registries),
            plain_http=tuple(settings.plain_http),
            https_only=tuple(settings.https_only),
            ca_file=str(settings.ca_file) if settings.ca_file else None,
            timeout=settings.timeout,
            retry=RetryPolicy(
                attempts=settings.retries + 1,
                base_delay=settings.retry_delay,
                max_delay=settings.retry_max_delay,
                max_retry_after=settings.retry_after_cap,
                budget=settings.retry_budget,
            ),
        )
        self._clients: dict[tuple[str, object], RegistryClient] = {}
        self._uploaders: dict[int, BlobUploader] = {}

    def client(self, registry: str, explicit: Credential | None) -> RegistryClient:
        credential = (
            explicit
            or load_docker_credential(registry, config_path=self._config_file())
            or self._github_token_credential(registry)
        )
        key = (registry, (credential.username, credential.password) if credential else None)
        if key not in self._clients:
            client = open_client(
                registry, credential, self.transport, max_connections=self.settings.jobs * 2 + 2
            )
            self.stack.push_async_callback(client.aclose)
            self._clients[key] = client
        return self._clients[key]

    def uploader(self, client: RegistryClient) -> BlobUploader:
        """One uploader per client, so what it learns (chunking, chunk size) serves every blob."""
        if id(client) not in self._uploaders:
            self._uploaders[id(client)] = BlobUploader(
                client, chunk_size=self.settings.chunk_size, chunked=self.settings.chunked
            )
        return self._uploaders[id(client)]

    def _github_token_credential(self, registry: str) -> Credential | None:
        token = self.settings.github_token
        if registry == GHCR and token is not None and token.get_secret_value():
            return Credential(GITHUB_TOKEN_USERNAME, token)
        return None

    def _config_file(self) -> Any:
        path = self.settings.docker_config
        if path is not None and path.is_dir():
            return path / "config.json"
        return path


def _parse_source(text: str, registries: Registries) -> ImageSource:
    if is_layout_reference(text):
        return LayoutSource(parse_layout_reference(text))
    ref = parse_reference(text)
    client = registries.client(ref.registry, registries.settings.source_credential())
    client.auth.declare(ref.repository, "pull")
    return RegistrySource(client, ref)


def _parse_destinations(settings: Settings, source: ImageSource) -> list[Reference]:
    if not settings.destinations:
        raise UsageError("no destination given")
    refs = [parse_reference(text, default_tag=None) for text in settings.destinations]
    seen: set[str] = set()
    out = []
    for ref in refs:
        if ref.tag is None and ref.digest is None:
            ref = ref.with_tag(source.destination_tag())
        key = f"{ref.name}:{ref.tag}@{ref.digest}"
        if key not in seen:
            seen.add(key)
            out.append(ref)
    return out


def _open_destinations(settings: Settings, source: ImageSource, registries: Registries) -> list[Destination]:
    """A client per destination, told up front which scopes it will need (push, mount source)."""
    destinations = []
    for ref in _parse_destinations(settings, source):
        client = registries.client(ref.registry, settings.destination_credential())
        mount = source.registry_location
        same_registry = mount is not None and mount[0] == ref.registry and mount[1] != ref.repository
        also = (f"repository:{mount[1]}:pull",) if mount and same_registry else ()
        client.auth.declare(ref.repository, "pull,push", also=also)
        label = str(ref.with_digest(None)) if ref.tag else ref.name
        result = DestinationResult(reference=label, pinned="", digest="", tag=ref.tag)
        destinations.append(Destination(ref, client, registries.uploader(client), ref.tag, result))
    return destinations


async def copy_async(settings: Settings, *, on_phase: PhaseCallback | None = None) -> CopyResult:
    """Copy `settings.source` to every destination, preserving the manifest digest."""
    expected = settings.expected()
    if not settings.source:
        raise UsageError("no source given")
    async with AsyncExitStack() as stack:
        registries = Registries(settings, stack)
        source = _parse_source(settings.source, registries)
        destinations = _open_destinations(settings, source, registries)

        if on_phase is not None:
            on_phase("resolve", [d.result for d in destinations])
        log.info("resolving %s", source.description)
        top = await source.resolve_top()
        digest = top.digest
        log.info("source %s is %s (%s)", source.description, digest, top.media_type)
        if expected is not None and expected != digest:
            raise DigestMismatchError(
                f"{source.description} is {digest}, but the expected digest is {expected}; "
                "nothing was copied",
                expected=str(expected),
                got=str(digest),
            )
        for dest in destinations:
            if dest.reference.digest is not None and dest.reference.digest != digest:
                raise DigestMismatchError(
                    f"destination {dest.reference} names digest {dest.reference.digest}, but the "
                    f"source is {digest}; nothing was copied",
                    expected=str(dest.reference.digest),
                    got=str(digest),
                )
            dest.result.digest = str(digest)
            dest.result.pinned = dest.reference.pinned(digest)
        if on_phase is not None:
            on_phase("copy", [d.result for d in destinations])

        graph = await load_graph(source, top, settings.include_foreign_layers)
        if graph.foreign:
            log.info(
                "leaving out %d foreign layer(s); --include-foreign-layers copies them",
                len(graph.foreign),
            )
        sem = asyncio.Semaphore(settings.jobs)
        await plan(destinations, graph, source, sem)
        for dest in destinations:
            _log_plan(dest)
        if not settings.dry_run:
            await execute(destinations, graph, source, sem)
            if on_phase is not None:
                on_phase("verify", [d.result for d in destinations])
            await verify(destinations, digest, sem)
        for dest in destinations:
            dest.result.seconds = round(time.monotonic() - dest.started, 3)
        return CopyResult(
            str(source.description),
            str(digest),
            top.media_type,
            settings.dry_run,
            [d.result for d in destinations],
        )


def _log_plan(dest: Destination) -> None:
    r = dest.result
    if dest.up_to_date:
        log.info("%s already has %s; nothing to send", dest.label, r.digest)
    elif dest.top_present:
        log.info("%s already has the image; only the tag moves", dest.label)
    else:
        log.info(
            "%s lacks %d blob(s) (%d bytes) and %d manifest(s)",
            dest.label,
            r.blobs_missing,
            r.bytes_missing,
            len(dest.missing_children) + 1,
        )


def copy(
    source: str,
    destinations: Sequence[str],
    *,
    expected_digest: str | None = None,
    dry_run: bool = False,
    jobs: int = 4,
    **settings: Any,
) -> CopyResult:
    """Synchronous library entry point; keyword arguments are `Settings` fields."""
    config = Settings(
        source=source,
        destinations=list(destinations),
        expected_digest=expected_digest,
        dry_run=dry_run,
        jobs=jobs,
        **settings,
    )
    return asyncio.run(copy_async(config))


async def resolve_digest_async(text: str, settings: Settings) -> Digest:
    """The digest of a reference: from a HEAD when the registry sends it, else GET and hash."""
    async with AsyncExitStack() as stack:
        if is_layout_reference(text):
            return (await LayoutSource(parse_layout_reference(text)).resolve_top()).digest
        ref = parse_reference(text)
        client = Registries(settings, stack).client(ref.registry, settings.source_credential())
        client.auth.declare(ref.repository, "pull")
        head = await client.head_manifest(ref.repository, ref.target)
        if head is not None and head.digest and ref.digest is None:
            return _parse_header_digest(head.digest, ref)
        source = RegistrySource(client, ref)
        return (await source.resolve_top()).digest


def _parse_header_digest(value: str, ref: Reference) -> Digest:
    try:
        return parse_digest(value)
    except UsageError:
        raise DigestMismatchError(
            f"{ref.registry} sent a malformed digest header for {ref}",
            expected="a digest",
            got=value,
        ) from None


def resolve_digest(text: str, **settings: Any) -> Digest:
    return asyncio.run(resolve_digest_async(text, Settings(**settings)))


__all__ = ["copy", "copy_async", "resolve_digest", "resolve_digest_async"]
