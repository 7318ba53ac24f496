"""The Action with `cache: true` under act, against act's own cache server on 127.0.0.1.

actions/cache cannot be downloaded here, and its code may not be copied into this
repository. Its restore and save steps are replaced (act's --local-repository, at the
commit action.yml pins) by tests/action/cache-action: a few lines of our own that call
@actions/cache, the library actions/cache bundles, at the version that commit locks
(5.0.5, from the npm registry; scripts/setup.sh installs it). So the archive, the key and
path handling and the cache service protocol are the real library's; what actions/cache
adds around it (reading its inputs, its outputs, its warnings) is not under test.

One job uses the Action, removes its environment (as a fresh job would find none), and uses
it again: the second use restores the environment from the cache server instead of
installing. A second *job* cannot show this under act: act's host mode gives each job a new
RUNNER_TEMP, and the cache service keys an entry by its path as well as its key, so a later
job misses (see the report of issue 18).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.registry import RunningRegistry
from tests.action.act import CACHE_STAND_IN, CHECKOUT, action_act, workflow
from tests.action.conftest import Image

pytestmark = [pytest.mark.peers, pytest.mark.slow]  # act (built by scripts/setup.sh); 20 s or more


def test_a_removed_environment_is_restored_from_the_cache(
    image: Image, registry2: RunningRegistry, tmp_path: Path
) -> None:
    if not (CACHE_STAND_IN / "node_modules" / "@actions" / "cache").is_dir():
        pytest.fail(f"{CACHE_STAND_IN}/node_modules is missing: scripts/setup.sh installs it", pytrace=False)
    act = action_act(tmp_path, cache_server=True)
    steps = [
        CHECKOUT,
        {
            "id": "first",
            "uses": "./",
            "with": {"source": image.ref, "destinations": registry2.ref("prod/api", "1")},
        },
        {"id": "forget", "run": 'rm -rf "$RUNNER_TEMP"/oci-promote-*'},
        {
            "id": "second",
            "uses": "./",
            "with": {"source": image.ref, "destinations": registry2.ref("prod/api", "2")},
        },
    ]
    run = act.run(workflow(("cached", steps)))

    assert run.returncode == 0, run.log
    job = run.job("cached")
    assert job.step("first").outputs["digest"] == image.digest
    assert job.step("second").outputs["digest"] == image.digest
    printed = run.printed("cached")
    [key] = [line.removeprefix("cache miss: ") for line in printed if line.startswith("cache miss: ")]
    assert key.startswith("oci-promote-venv")
    # First use: a miss, an install, a save through act's cache server.
    assert "Cache saved successfully" in printed and f"cache saved: {key} (id 1)" in printed
    # Second use: a hit on the same key, and no second install (nor a second save).
    assert f"cache hit: {key.lower()}" in [line.lower() for line in printed]  # act lowercases keys
    installs = [g for g in run.commands("group", job="cached") if "Installing oci-promote" in g]
    assert len(installs) == 1, installs
    assert len([line for line in printed if line.startswith("cache saved: ")]) == 1
    assert (tmp_path / "act-cache-server").is_dir()
