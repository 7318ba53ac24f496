"""One release's shared resources: a connection pool and a credential lookup per registry, one
retry budget per registry (429 Retry-After throttling counted for the summary), one limiter.

Every entry of a release goes through one `Session`, so twenty images from one registry
open one pool and ask the Docker config (or its credential helper) once, and a registry
that throttles spends its own budget, not its neighbours'.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, fields, replace

import anyio

from ..connect import Connections
from ..engine.graph import ImageGraph
from ..engine.plan import Holdings
from ..options import DEFAULT_JOBS, ConnectOptions
from ..referrers.carry import ReferrerOptions
from ..referrers.model import Referrer
from ..storage import Storage
from ..transport.credentials import Credential
from ..transport.distribution import RegistryClient, open_client
from ..transport.retry import RetryPolicy
from ..types.reference import Reference

#: Opens a storage for a reference (tests and the benchmark: in-memory storages).
Opener = Callable[[Reference], Storage]


@dataclass
class ThrottledPolicy(RetryPolicy):
    """A registry's own retry policy; counts the pauses a registry asked for (Retry-After)."""

    throttled: int = 0
    waited: float = 0.0

    async def pause(self, attempt: int, retry_after: str | None = None) -> None:
        seconds = self.delay(attempt, retry_after)
        if retry_after:
            self.throttled += 1
            self.waited += seconds
        await anyio.sleep(seconds)


class ReleaseConnections(Connections):
    """`Connections` with one credential lookup and one retry budget per registry."""

    def __init__(self, options: ConnectOptions, stack: AsyncExitStack, *, jobs: int = DEFAULT_JOBS) -> None:
        super().__init__(options, stack, jobs=jobs)
        self.policies: dict[str, ThrottledPolicy] = {}
        self._credentials: dict[tuple[str, int], Credential | None] = {}
        self._release_clients: dict[tuple[str, object], RegistryClient] = {}

    def credential(self, registry: str, explicit: Credential | None) -> Credential | None:
        key = (registry, id(explicit))
        if key not in self._credentials:
            self._credentials[key] = super().credential(registry, explicit)
        return self._credentials[key]

    def client(self, registry: str, explicit: Credential | None) -> RegistryClient:
        credential = self.credential(registry, explicit)
        key = (registry, (credential.username, credential.password) if credential else None)
        if key not in self._release_clients:
            base = self.transport.retry
            policy = self.policies.setdefault(
                registry,
                ThrottledPolicy(
                    **{f.name: getattr(base, f.name) for f in fields(RetryPolicy) if f.name != "spent"}
                ),
            )
            transport = replace(self.transport, retry=policy)
            client = open_client(registry, credential, transport, max_connections=self.max_connections)
            self.stack.push_async_callback(client.aclose)
            self._release_clients[key] = client
        return self._release_clients[key]


class Session:
    """Storages for a release, opened once per repository, and the one concurrency limit."""

    def __init__(
        self,
        connect: ConnectOptions,
        stack: AsyncExitStack,
        *,
        jobs: int = DEFAULT_JOBS,
        source_credential: Credential | None = None,
        destination_credential: Credential | None = None,
        opener: Opener | None = None,
    ) -> None:
        self.jobs = jobs
        self.connections = ReleaseConnections(connect, stack, jobs=jobs)
        #: The one limit on transfers (blobs, manifests) across every entry of the release.
        self.limiter = anyio.CapacityLimiter(jobs)
        #: Lookups (HEADs, manifest GETs, tag PUTs) are small: as many as a registry's connection
        #: pool holds, so a commit's checks take one round trip, not one per `jobs` of them.
        self.lookups = anyio.CapacityLimiter(self.connections.max_connections)
        self.source_credential = source_credential
        self.destination_credential = destination_credential
        self._opener = opener
        self._storages: dict[tuple[str, str, str], Storage] = {}
        #: What this process already read, so `apply`'s stage does not ask again what its plan
        #: asked: image graphs and referrers by (source identity, digest, ...), and what each
        #: destination repository holds of an image by (destination identity, digest).
        self.graphs: dict[tuple[tuple[str, ...], str, bool], ImageGraph] = {}
        self.referrers: dict[tuple[tuple[str, ...], str, ReferrerOptions], tuple[Referrer, ...]] = {}
        self.holdings: dict[tuple[tuple[str, ...], str], Holdings] = {}

    def source(self, ref: Reference) -> Storage:
        return self._open("pull", ref, lambda: self.connections.source(ref, self.source_credential))

    def destination(self, ref: Reference, source: Reference | None = None) -> Storage:
        """A destination repository; `source`: the image's source (for a mount's scope)."""
        return self._open(
            "push", ref, lambda: self.connections.destination(ref, self.destination_credential, source or ref)
        )

    def _open(self, role: str, ref: Reference, make: Callable[[], Storage]) -> Storage:
        key = (role, ref.registry, ref.repository)
        if key not in self._storages:
            self._storages[key] = self._opener(ref) if self._opener else make()
        return self._storages[key]

    def throttling(self) -> dict[str, tuple[int, float]]:
        """Registry -> (pauses asked for with Retry-After, seconds waited), for those that throttled."""
        return {
            registry: (p.throttled, round(p.waited, 1))
            for registry, p in self.connections.policies.items()
            if p.throttled
        }
