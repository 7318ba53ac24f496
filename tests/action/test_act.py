"""The Action under nektos/act (host mode), against real local registries.

act is the runner Gitea and Forgejo Actions are built on: what fails under it fails for
their users. The main cases run in one workflow, once for this module (installing the
Action's environment costs seconds, once per job): job `cases` uses the Action several
times in one job (copy, dry run, verify, a verify mismatch, bad inputs, passwords given in
clear), and job `mismatch` is failed by an expected-digest mismatch. They use `cache:
false` (act would otherwise need actions/cache's code and a cache service);
tests/action/test_act_cache.py runs with the cache on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testkit.registry import RunningRegistry, start_registry
from testkit.skopeo import copy_oci_to_registry, run_skopeo
from tests.action.act import CHECKOUT, Act, ActRun, action_act, workflow
from tests.action.conftest import FIXTURE, FIXTURE_DIGEST, FIXTURE_TAG
from tests.conftest import FIXTURES_DIR

pytestmark = [pytest.mark.peers, pytest.mark.slow]  # act (built by scripts/setup.sh); 20 s or more

OTHER_DIGEST = "sha256:" + "0" * 64
#: Passwords given to the Action in clear (not from secrets.*), so only its masks hide them.
PASSWORDS = {"plain": "S3cret-Pa55word-for-act", "colons": "Lo0ng::Pa%25rt word::Thr33"}
#: A workflow command at the start of a printed line, after any ANSI colour codes: act
#: printed it as output (`| ` lines), so it did not understand it as a command.
_UNREAD_COMMAND = re.compile(r"^(?:\x1b\[[0-9;]*m)*\s*::[A-Za-z-]+")


def promote(step_id: str, **inputs: str) -> dict[str, Any]:
    return {"id": step_id, "uses": "./", "with": {"cache": "false", **inputs}}


def login(reg: RunningRegistry) -> dict[str, str]:
    """The Action's destination credential inputs for `reg`, in clear (not from secrets.*)."""
    return {"destination-username": str(reg.username), "destination-password": str(reg.password)}


def tag_exists(reg: RunningRegistry, repo: str, tag: str, password: str | None = None) -> bool:
    headers = {"Accept": "application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json"}
    auth = {} if password is None else {"auth": (reg.username or "", password)}
    with reg.client(**auth) as client:
        return client.head(f"/v2/{repo}/manifests/{tag}", headers=headers).status_code == 200


def assert_commands_understood(lines: list[str]) -> None:
    """Every workflow command printed was taken as one by act, none shown as text."""
    unread = [line for line in lines if _UNREAD_COMMAND.match(line)]
    assert unread == [], "\n".join(unread)


def _python310() -> str:
    """Python 3.10, the oldest the Action supports: there it runs github-action-utils 1.1."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = [str(p) for p in sorted(pyenv.glob("versions/3.10*/bin/python3"))] + [
        shutil.which("python3.10") or ""
    ]
    found = [p for p in found if p]
    if not found:
        pytest.fail("Python 3.10 not found (pyenv's or python3.10 on PATH)", pytrace=False)
    return found[0]


@dataclass
class World:
    run: ActRun
    source: str
    extracted: str
    src: RunningRegistry
    dest: RunningRegistry
    basic: dict[str, RunningRegistry]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("act")
    started = [start_registry(tmp / "src"), start_registry(tmp / "dest")]
    started += [start_registry(tmp / name, auth="htpasswd", password=pw) for name, pw in PASSWORDS.items()]
    try:
        src, dest, *basic_list = started
        basic = dict(zip(PASSWORDS, basic_list, strict=True))
        source = src.ref("acme/api", "build-1")
        copy_oci_to_registry(FIXTURES_DIR / FIXTURE, FIXTURE_TAG, source)
        # One platform pulled out of the index by skopeo (no --all): what a pull + push does.
        extracted = src.ref("acme/api", "amd64")
        tls = ["--src-tls-verify=false", "--dest-tls-verify=false"]
        run_skopeo(
            [
                "copy",
                "--override-os=linux",
                "--override-arch=amd64",
                *tls,
                f"docker://{source}",
                f"docker://{extracted}",
            ]
        )
        pinned_digest = {"expected-digest": FIXTURE_DIGEST}
        two = f"{dest.ref('prod/api', '1.4.2')}\n{src.ref('acme/api', 'stable')}"
        bad = f"{dest.host}/Prod/API:1"  # not lowercase
        cases = [
            CHECKOUT,
            promote("copy", source=source, destinations=two),
            promote("dry", source=source, destinations=dest.ref("prod/api", "dry"), **{"dry-run": "true"}),
            # verify needs no source (action.yml: required: false)
            promote("verify", mode="verify", destinations=dest.ref("prod/api", "1.4.2"), **pinned_digest),
            {
                **promote("gate", mode="verify", destinations=extracted, **pinned_digest),
                "continue-on-error": True,
            },
            {
                **promote("bad", source=source, destinations=f"{dest.host}/Prod/API:1", jobs="0"),
                "continue-on-error": True,
            },
        ]
        for name, password in PASSWORDS.items():
            reg = basic[name]
            cases.append(
                promote(
                    f"masked-{name}",
                    source=source,
                    destinations=reg.ref("prod/api", "1"),
                    **login(reg),
                )
            )
            # What a careless later step could print: act must show the mask instead.
            cases.append(
                {"id": f"echo-{name}", "env": {"PW": password}, "run": f'echo "{name} password: [$PW]"'}
            )
        mismatch = [
            CHECKOUT,
            promote(
                "copy",
                source=source,
                destinations=dest.ref("prod/api", "mismatch"),
                **{"expected-digest": OTHER_DIGEST},
            ),
            {"id": "after", "run": "echo this step must not run"},
        ]
        colons = basic["colons"]
        py310 = [
            CHECKOUT,
            # What actions/setup-python does: its python3 first on PATH, for later steps.
            {"run": f'mkdir -p "$RUNNER_TEMP/py" && ln -s {_python310()} "$RUNNER_TEMP/py/python3" '
             '&& echo "$RUNNER_TEMP/py" >> "$GITHUB_PATH"'},
            promote(
                "copy",
                source=source,
                destinations=colons.ref("prod/api", "py310"),
                **login(colons),
            ),
            {**promote("bad", source=source, destinations=bad), "continue-on-error": True},
        ]  # fmt: skip
        flow = workflow(("cases", cases), ("mismatch", mismatch), ("py310", py310))
        run = action_act(tmp / "act").run(flow)
        yield World(run, source, extracted, src, dest, basic)
    finally:
        for reg in reversed(started):
            reg.stop()


def test_copy_outputs_the_digest_and_pinned_references(world: World) -> None:
    copy = world.run.job("cases").step("copy")
    assert copy.outcome == "success", world.run.log
    assert copy.outputs["digest"] == FIXTURE_DIGEST
    assert copy.outputs["references"].splitlines() == [
        f"{world.dest.host}/prod/api@{FIXTURE_DIGEST}",
        f"{world.src.host}/acme/api@{FIXTURE_DIGEST}",
    ]
    result = json.loads(copy.outputs["json"])
    assert [d["reference"] for d in result["destinations"]] == [
        world.dest.ref("prod/api", "1.4.2"),
        world.src.ref("acme/api", "stable"),
    ]
    assert tag_exists(world.dest, "prod/api", "1.4.2") and tag_exists(world.src, "acme/api", "stable")


def test_dry_run_writes_nothing(world: World) -> None:
    dry = world.run.job("cases").step("dry")
    assert dry.outcome == "success", world.run.log
    assert dry.outputs["digest"] == FIXTURE_DIGEST
    assert json.loads(dry.outputs["json"])["dry_run"] is True
    assert not tag_exists(world.dest, "prod/api", "dry")


def test_verify_without_a_source(world: World) -> None:
    verify = world.run.job("cases").step("verify")
    assert verify.outcome == "success", world.run.log
    assert verify.outputs["digest"] == FIXTURE_DIGEST
    assert json.loads(verify.outputs["json"])["verified"] is True


def test_verify_mismatch_names_its_causes_on_lines_of_their_own(world: World) -> None:
    run = world.run
    assert run.job("cases").step("gate").outcome == "failure"
    [error] = [c for c in run.commands("error", job="cases") if world.extracted in c.replace("%3A", ":")]
    assert "Digest mismatch" in error and "platform-extracted" in error
    printed = run.printed("cases")
    # Multi-line text is several log lines, never one line with a literal "\n" in it.
    assert not [line for line in printed if "\\n" in line], "\n".join(printed)
    [headline] = [i for i, line in enumerate(printed) if line.startswith(f"{world.extracted}: ")]
    assert printed[headline + 1].strip().startswith(f"A = {FIXTURE_DIGEST}, B = {world.extracted}")
    assert "platform-extracted" in printed[headline + 1]


def test_bad_inputs_are_named_and_fail_the_step(world: World) -> None:
    assert world.run.job("cases").step("bad").outcome == "failure"
    titles = {c.split("::")[1] for c in world.run.commands("error", job="cases")}
    assert {"error title=Invalid input%3A destinations", "error title=Invalid input%3A jobs"} <= titles


def test_two_uses_in_one_job_install_once(world: World) -> None:
    groups = world.run.commands("group", job="cases")
    assert len([g for g in groups if "Installing oci-promote" in g]) == 1
    # cache: false: nothing cloned, no cache step run.
    assert "git clone" not in world.run.log
    assert "Restore the oci-promote" not in world.run.log and "Save the oci-promote" not in world.run.log


@pytest.mark.parametrize("name", PASSWORDS)
def test_a_password_not_from_secrets_never_appears_in_the_log(world: World, name: str) -> None:
    password = PASSWORDS[name]
    assert world.run.job("cases").step(f"masked-{name}").outcome == "success", world.run.log
    assert tag_exists(world.basic[name], "prod/api", "1", password)
    for part in {password, *password.split("::")}:
        assert part not in world.run.log
    [echoed] = [line for line in world.run.printed("cases") if line.startswith(f"{name} password: ")]
    assert re.fullmatch(rf"{name} password: \[[*:]+\]", echoed)


def test_a_digest_mismatch_fails_the_job_before_writing(world: World) -> None:
    run = world.run
    assert run.returncode != 0
    assert "Job 'mismatch' failed" in run.log
    job = run.job("mismatch")
    assert job.step("copy").outcome == "failure"
    assert job.step("after").outcome == "skipped"
    [error] = run.commands("error", job="mismatch")
    assert "Digest mismatch" in error and FIXTURE_DIGEST in error and OTHER_DIGEST in error
    assert not tag_exists(world.dest, "prod/api", "mismatch")


def test_on_python_3_10_with_github_action_utils_1(world: World) -> None:
    """The lock installs github-action-utils 1.1 for Python 3.10: masks, outputs, annotations."""
    job = world.run.job("py310")
    copy = job.step("copy")
    assert copy.outcome == "success", world.run.log
    assert copy.outputs["digest"] == FIXTURE_DIGEST
    assert tag_exists(world.basic["colons"], "prod/api", "py310", PASSWORDS["colons"])
    assert job.step("bad").outcome == "failure"
    assert [c.split("::")[1] for c in world.run.commands("error", job="py310")] == [
        "error title=Invalid input%3A destinations"
    ]
    keys = [line for line in world.run.log.splitlines() if "py310" in line and "::set-output:: key=" in line]
    assert keys and all("-cpython3.10." in line for line in keys), keys
    for part in {PASSWORDS["colons"], *PASSWORDS["colons"].split("::")}:
        assert part not in world.run.log
    assert_commands_understood(world.run.printed("py310"))


def test_every_workflow_command_is_understood_by_act(world: World) -> None:
    """`::group ::T` or `::add-mask ::V` (a space before `::`) would be printed as text."""
    printed = world.run.printed()
    assert_commands_understood(printed)
    assert {"::group::Resolve the source", "::group::Copy to 2 destinations"} <= set(
        world.run.commands("group", job="cases")
    )
    assert "Traceback" not in world.run.log


def test_a_failed_install_is_an_annotation(tmp_path: Path, registry2: RunningRegistry) -> None:
    """pip under act's terminal colours its output; the `::error` after it must still be read."""
    act = action_act(
        tmp_path,
        # An index that refuses connections, and no local wheels: the install fails.
        env={"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "0", "PIP_FIND_LINKS": ""},
    )
    steps = [
        CHECKOUT,
        promote("copy", source=registry2.ref("a/b", "1"), destinations=registry2.ref("c/d", "1")),
    ]
    run = act.run(workflow(("promote", steps)))

    assert run.returncode != 0, run.log
    assert any("oci-promote setup failed" in c for c in run.commands("error")), run.log
    assert "ERROR:" in run.log  # pip's own message is there, above the annotation
    assert_commands_understood(run.printed())


def test_the_act_helper_reports_each_matrix_combination(tmp_path: Path) -> None:
    """tests/action/act.py itself, as matrix workflows (release modes) will use it."""
    step = {"id": "s", "run": 'echo "out=${{ matrix.n }}" >> "$GITHUB_OUTPUT"; echo "n is ${{ matrix.n }}"'}
    flow = workflow(("m", [step]), ("other", [{"id": "t", "run": "exit 3"}]))
    flow["jobs"]["m"]["strategy"] = {"matrix": {"n": ["a", "b"]}}
    run = Act(tmp_path).run(flow)

    assert run.returncode != 0  # job `other` failed
    jobs = sorted(run.jobs("m"), key=lambda j: str(j.matrix))
    assert [j.matrix for j in jobs] == [{"n": "a"}, {"n": "b"}]
    assert [j.step("s").outputs for j in jobs] == [{"out": "a"}, {"out": "b"}]
    assert all(set(j.steps) == {"s"} for j in jobs)
    assert sorted(run.printed("m")) == ["n is a", "n is b"]
    assert run.job("other").step("t").outcome == "failure"
