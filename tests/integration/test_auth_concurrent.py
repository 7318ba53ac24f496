"""Concurrent first requests to a Basic-auth registry: each 401 sent without credentials is
answered again with them, not taken for refused credentials (found by a release writing to
several repositories of one registry at once)."""

from __future__ import annotations

from testkit.registry import RunningRegistry
from tests.integration.test_cli import V3, cli, seed


def test_a_copy_to_three_repositories_of_a_basic_auth_registry(
    registry: RunningRegistry, basic_registry: RunningRegistry
) -> None:
    source = seed(registry)
    dests = [f"{basic_registry.host}/acme/{n}" for n in ("a", "b", "c")]
    creds = f"{basic_registry.username}:{basic_registry.password}"
    result = cli("copy", source, *dests, "--dest-creds", creds)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{d}@{V3}" for d in dests]
