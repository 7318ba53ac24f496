"""Opening storages: one HTTP client per (registry, credential), credentials looked up in order.

Credential order: the explicit one, the Docker config file, then the caller's
credential provider (the Action's GitHub token), else anonymous. The library
reads no `OCI_PROMOTE_*` variable; the Docker config location follows
`$DOCKER_CONFIG` as every registry client's does.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from .options import DEFAULT_JOBS, ConnectOptions, Location
from .storage import Storage
from .storage.registry import RegistryStorage
from .transport.credentials import Credential, HelperMissingError, load_docker_credential
from .transport.distribution import RegistryClient, open_client
from .transport.upload import BlobUploader
from .types.location import LayoutReference
from .types.reference import Reference


class Connections:
    """Clients and storages for one operation, closed together with `stack`."""

    def __init__(self, options: ConnectOptions, stack: AsyncExitStack, *, jobs: int = DEFAULT_JOBS) -> None:
        self.options = options
        self.stack = stack
        self.transport = options.transport()
        self.max_connections = jobs * 2 + 2
        self._clients: dict[tuple[str, object], RegistryClient] = {}
        self._uploaders: dict[int, BlobUploader] = {}
        self._storages: dict[tuple[str, ...], Storage] = {}
        #: Registries whose configured credential helper is missing: an error only if they ask.
        self._missing: dict[str, HelperMissingError] = {}

    def credential(self, registry: str, explicit: Credential | None) -> Credential | None:
        if explicit is not None:
            return explicit
        try:
            found = load_docker_credential(registry, config_path=self._config_file())
        except HelperMissingError as e:
            found, self._missing[registry] = None, e
        if found is None and self.options.credential_provider is not None:
            found = self.options.credential_provider(registry)
        return found

    def client(self, registry: str, explicit: Credential | None) -> RegistryClient:
        credential = self.credential(registry, explicit)
        key = (registry, (credential.username, credential.password) if credential else None)
        if key not in self._clients:
            client = open_client(registry, credential, self.transport, max_connections=self.max_connections)
            if credential is None:
                client.auth.unavailable = self._missing.get(registry)
            self.stack.push_async_callback(client.aclose)
            self._clients[key] = client
        return self._clients[key]

    def uploader(self, client: RegistryClient) -> BlobUploader:
        """One uploader per client, so what it learns (chunking, chunk size) serves every blob."""
        if id(client) not in self._uploaders:
            self._uploaders[id(client)] = BlobUploader(
                client, chunk_size=self.options.chunk_size, chunked=self.options.chunked
            )
        return self._uploaders[id(client)]

    def source(self, location: Location, credential: Credential | None) -> Storage:
        if isinstance(location, LayoutReference):
            from .storage.layout import LayoutStorage  # OCI layouts' code: only when one is named

            layout = LayoutStorage(location.path)
            layout.check_source()
            return layout
        client = self.client(location.registry, credential)
        client.auth.declare(location.repository, "pull")
        return RegistryStorage(client, self.uploader(client), location.repository)

    def destination(self, location: Location, credential: Credential | None, source: Location) -> Storage:
        """The storage for a destination; destinations in one repository share one object."""
        storage: Storage
        if isinstance(location, LayoutReference):
            from .storage.layout import LayoutStorage

            storage = LayoutStorage(location.path)
            if storage.identity not in self._storages:
                storage.check_destination()
        else:
            client = self.client(location.registry, credential)
            also: tuple[str, ...] = ()
            if _mountable(source, location):
                assert isinstance(source, Reference)
                also = (f"repository:{source.repository}:pull",)
            client.auth.declare(location.repository, "pull,push", also=also)
            storage = RegistryStorage(client, self.uploader(client), location.repository)
        return self._storages.setdefault(storage.identity, storage)

    def _config_file(self) -> Path | None:
        path = self.options.docker_config
        if path is not None and path.is_dir():
            return path / "config.json"
        return path


def _mountable(source: Location, destination: Reference) -> bool:
    return (
        isinstance(source, Reference)
        and source.registry == destination.registry
        and source.repository != destination.repository
    )
