"""Start-up stays lean: a run imports only the code it uses (issue 20 item 5).

Each test runs the CLI in its own interpreter against real registries and lists the
modules loaded when it ends, so a module-level import that makes one of them eager again
fails here (no timing: the machine is shared).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from testkit.registry import RunningRegistry
from tests.integration.test_cli import TESTREPO, V3, seed

#: Runs `oci-promote ARGS...` through its entry point, then writes every loaded module's name
#: (a None entry is an import refused on purpose, not a module).
_RUN = """
import json, os, sys
from oci_promote.cli.main import main
code = main(sys.argv[1:])
with open(os.environ["MODULES_OUT"], "w") as out:
    json.dump(sorted(name for name, module in sys.modules.items() if module is not None), out)
sys.exit(code)
"""

#: The same for the Action's promotion step (`python -m oci_promote.action`, as action.yml runs it).
_ACTION = """
import json, os, runpy, sys
try:
    runpy.run_module("oci_promote.action", run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as e:
    code = e.code
with open(os.environ["MODULES_OUT"], "w") as out:
    json.dump(sorted(name for name, module in sys.modules.items() if module is not None), out)
sys.exit(code)
"""

#: Not used by a copy between registries, without a terminal: (prefix, what loads it instead).
NOT_FOR_A_PLAIN_COPY = {
    "oci_promote.forensics.compare": "a digest mismatch, diff",
    "oci_promote.forensics.mismatch": "a digest mismatch",
    "oci_promote.forensics.verify": "verify",
    "oci_promote.referrers.write": "referrers to carry",
    "oci_promote.referrers.index_merge": "referrers to carry",
    "oci_promote.referrers.digest_tags": "referrers to carry",
    "oci_promote.storage.layout": "an oci: layout",
    "oci_promote.storage.memory": "the engine's unit tests",
    "oci_promote.release": "the release verbs",
    "oci_promote.action": "the Action",
    "github_action_utils": "the Action",
    "oci_promote.cli.live": "a terminal (the rich display)",
    "rich": "a terminal (the rich display)",
    "httpx._main": "httpx's own command line, never",
    "click": "httpx's own command line, never",
    "pygments": "rich on a terminal",
}


def run_cli(
    tmp_path: Path, *args: str, code: str = _RUN, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = tmp_path / "modules.json"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OCI_PROMOTE_", "DOCKER_", "GITHUB_"))}
    base |= {"DOCKER_CONFIG": "/nonexistent-docker-config", "MODULES_OUT": str(out), **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=base,
        timeout=120,
        check=False,
    )
    return done, set(json.loads(out.read_text())) if out.exists() else set()


def loaded(modules: set[str], prefix: str) -> list[str]:
    return sorted(m for m in modules if m == prefix or m.startswith(prefix + "."))


def test_a_json_copy_between_registries_loads_nothing_it_does_not_use(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    done, modules = run_cli(tmp_path, "copy", "--json", source, f"{registry2.host}/promoted/app:v3")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["digest"] == V3  # it did copy: the list is a real run's
    extra = {prefix: loaded(modules, prefix) for prefix in NOT_FOR_A_PLAIN_COPY}
    assert not {p: m for p, m in extra.items() if m}, extra
    assert "oci_promote.engine.copy" in modules and "oci_promote.frontend.settings" in modules


def test_the_same_check_sees_what_a_layout_source_loads(tmp_path: Path, registry: RunningRegistry) -> None:
    """The check is not blind: a copy from an oci: layout, with the fixture's two SBOMs, does
    load the layout code and the referrers' writing."""
    done, modules = run_cli(tmp_path, "copy", "--json", f"oci:{TESTREPO}:v3", f"{registry.host}/a/b:v3")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["destinations"][0]["referrers_copied"] == 2, done.stdout
    assert loaded(modules, "oci_promote.storage.layout")
    assert loaded(modules, "oci_promote.referrers.write")
    assert not loaded(modules, "oci_promote.forensics.compare")


def test_a_digest_mismatch_still_loads_the_forensics_and_names_its_causes(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    wrong = "sha256:" + "0" * 64
    done, modules = run_cli(
        tmp_path, "copy", "--json", "--expected-digest", wrong, source, f"{registry2.host}/x/y:v3"
    )
    assert done.returncode == 1, done.stderr
    assert "nothing was copied" in done.stderr
    assert loaded(modules, "oci_promote.forensics.mismatch")


def test_the_actions_copy_loads_neither_the_release_code_nor_the_forensics(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    outputs = tmp_path / "outputs"
    done, modules = run_cli(
        tmp_path,
        code=_ACTION,
        env={
            "OCI_PROMOTE_SOURCE": source,
            "OCI_PROMOTE_DESTINATIONS": f"{registry2.host}/promoted/app:v3",
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        },
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert V3 in outputs.read_text()  # it did copy
    extra = {
        p: loaded(modules, p)
        for p in NOT_FOR_A_PLAIN_COPY
        if not p.startswith(("oci_promote.action", "github"))
    }
    assert not {p: m for p, m in extra.items() if m}, extra
    assert "github_action_utils" in modules and "oci_promote.action.main" in modules
