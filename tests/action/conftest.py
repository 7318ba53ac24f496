"""Fixtures for running action.yml as the runner does, against real local registries.

`runner_temp` is shared by the whole session, so the action's virtual environment (keyed
by the runner, the Python and the lock file) is created and installed once with a real
`pip install --require-hashes`, then reused, exactly as a second use of the action in
one job reuses it. tests/action/test_setup.py covers first and later jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from testkit.action_runner import ActionRunner
from testkit.registry import RunningRegistry
from testkit.skopeo import copy_oci_to_registry

#: A multi-platform OCI index from the shared fixtures (4 platforms, shared layers).
FIXTURE = "regclient-testrepo"
FIXTURE_TAG = "v3"
FIXTURE_DIGEST = "sha256:6fe828b32b9b4572f32b16c1c0a4d675660b19ec207d010724309374252c2d6d"


@dataclass(frozen=True)
class Image:
    ref: str
    digest: str


@pytest.fixture(scope="session")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runner-temp")


@pytest.fixture
def action(runner_temp: Path, tmp_path: Path) -> ActionRunner:
    return ActionRunner(runner_temp, tmp_path)


@pytest.fixture
def image(registry: RunningRegistry, fixtures_dir: Path) -> Image:
    """The fixture index pushed to `registry` by skopeo (not by our code), digest preserved."""
    ref = registry.ref("acme/api", "build-1")
    copy_oci_to_registry(fixtures_dir / FIXTURE, FIXTURE_TAG, ref)
    return Image(ref, FIXTURE_DIGEST)
