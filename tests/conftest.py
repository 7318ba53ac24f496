"""Shared fixtures: real `docker-registry` processes, skopeo, and the shared OCI fixtures.

Integration tests need `docker-registry` and `skopeo` on PATH. If they are missing the run
stops with an error, because CI must never pass by silently skipping; set
``OCI_PROMOTE_ALLOW_SKIP=1`` to skip the integration tests instead (local convenience).

A registry starts in well under a second (~70 ms measured), so registries are
function-scoped: every test gets empty storage and a fresh access log.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from testkit.olareg import OlaregRegistry, start_olareg
from testkit.registry import REGISTRY_BINARY, TLS_TEST_HOSTNAME, RunningRegistry, start_registry
from testkit.signing import SigningWorld
from testkit.skopeo import SKOPEO_BINARY

#: Third-party OCI layouts, vendored byte for byte from the team's shared/fixtures (see
#: tests/fixtures/SOURCES.md) so a clone tests itself anywhere, GitHub's runners included.
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
SHARED_FIXTURES_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
ALLOW_SKIP_ENV = "OCI_PROMOTE_ALLOW_SKIP"
RegistryFactory = Callable[..., RunningRegistry]


def _missing_tools() -> list[str]:
    return [tool for tool in (REGISTRY_BINARY, SKOPEO_BINARY) if shutil.which(tool) is None]


#: Fixtures (with everything that uses them) that start registries, processes or virtual
#: environments, and those that run the Go tools built by scripts/setup.sh.
INTEGRATION_FIXTURES = frozenset({"registry_factory", "olareg_factory", "world", "action", "runner_temp"})
PEER_FIXTURES = frozenset({"olareg_factory", "world", "peer"})


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The unit tier (-m "not integration") does not even import tests/integration/, whose
    every test is integration: a quarter of its collection time."""
    if collection_path == Path(__file__).parent / "integration":
        return True if str(config.getoption("markexpr")).strip() == "not integration" else None
    return None


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark tests by what they start: tests/integration/ and registry-backed fixtures are
    `integration`; the Go tools are `peers` (and so `integration` too)."""
    fixtures = set(getattr(item, "fixturenames", ()))
    if fixtures & PEER_FIXTURES:
        item.add_marker(pytest.mark.peers)
    starts_things = fixtures & INTEGRATION_FIXTURES or "integration" in item.path.parts
    if starts_things or item.get_closest_marker("peers"):
        item.add_marker(pytest.mark.integration)


@pytest.hookimpl(trylast=True)  # after -m has deselected what will not run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fail the whole run (or skip, if allowed) when integration tests lack their tools."""
    integration = [item for item in items if item.get_closest_marker("integration")]
    missing = _missing_tools()
    if not integration or not missing:
        return
    reason = f"integration tests need {', '.join(missing)} on PATH (apt-get install it)"
    if os.environ.get(ALLOW_SKIP_ENV) == "1":
        for item in integration:
            item.add_marker(pytest.mark.skip(reason=f"{reason}; skipped: {ALLOW_SKIP_ENV}=1"))
        return
    raise pytest.UsageError(f"{reason}. Set {ALLOW_SKIP_ENV}=1 to skip them instead.")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Third-party, byte-exact OCI layouts. Never modify them."""
    if not FIXTURES_DIR.is_dir():
        pytest.fail(f"fixtures not found at {FIXTURES_DIR}", pytrace=False)
    return FIXTURES_DIR


class _Stoppable(Protocol):
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Stoppable)


def _starter(
    tmp_path_factory: pytest.TempPathFactory, launch: Callable[..., S], name: str
) -> Iterator[Callable[..., S]]:
    """Yield a function that starts servers with `launch` in fresh directories; stop them all after."""
    started: list[S] = []

    def start(**kwargs: Any) -> S:
        server = launch(tmp_path_factory.mktemp(name), **kwargs)
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture(autouse=True)
def restore_the_logger() -> Iterator[None]:
    """An in-process CLI run points the oci_promote logger at that test's (captured, then
    closed) stderr; put it back, so a later test's log lines do not write to a closed file."""
    logger = logging.getLogger("oci_promote")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate, logger.level = saved[0], saved[1], saved[2]


@pytest.fixture
def tls_test_hostname(monkeypatch: pytest.MonkeyPatch) -> str:
    """A non-loopback name (so HTTPS, as for any real registry) resolved to 127.0.0.1 in this
    process only; returned in lower case."""
    real: Callable[..., Any] = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host  # anyio passes IDNA bytes
        return real("127.0.0.1" if name.lower() == TLS_TEST_HOSTNAME else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return TLS_TEST_HOSTNAME


@pytest.fixture
def no_docker_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Docker config (and so no stored login) for the tool under test."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[SigningWorld]:
    """A private, offline world for cosign, oras and regctl (see testkit.signing)."""
    yield SigningWorld(tmp_path / "signing")
    assert not any((tmp_path / "signing" / "tuf").iterdir()), "cosign fetched TUF metadata"


@pytest.fixture
def registry_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryFactory]:
    """Start extra registries: ``registry_factory(auth=..., tls=..., ...)``; all are stopped."""
    yield from _starter(tmp_path_factory, start_registry, "registry")


@pytest.fixture
def registry(registry_factory: RegistryFactory) -> RunningRegistry:
    """An anonymous plain-HTTP registry (the usual source)."""
    return registry_factory()


@pytest.fixture
def registry2(registry_factory: RegistryFactory) -> RunningRegistry:
    """A second anonymous registry (the usual destination)."""
    return registry_factory()


@pytest.fixture
def basic_registry(registry_factory: RegistryFactory) -> RunningRegistry:
    """htpasswd (Basic) auth; credentials in ``.username``/``.password``/``.creds``."""
    return registry_factory(auth="htpasswd")


@pytest.fixture
def token_registry(registry_factory: RegistryFactory) -> RunningRegistry:
    """Bearer-token auth; the token server is ``.token_server``, credentials as above."""
    return registry_factory(auth="token")


@pytest.fixture
def olareg_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., OlaregRegistry]]:
    """Start olareg registries (the OCI 1.1 referrers API), each behind a recording proxy."""
    yield from _starter(tmp_path_factory, start_olareg, "olareg")


@pytest.fixture
def olareg_registry(olareg_factory: Callable[..., OlaregRegistry]) -> OlaregRegistry:
    """An olareg registry with the referrers API, shaped like ``registry``."""
    return olareg_factory()
