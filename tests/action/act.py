"""Run workflows under nektos/act, the runner Gitea and Forgejo Actions are built on, for tests.

`action_act(tmp_path).run(workflow(("job", steps)))` runs a workflow (a dict, as YAML would
load it) in host mode (`-P ubuntu-latest=-self-hosted`: steps run on this machine, no
container) with this checkout as the repository. In host mode a job's workspace starts
empty: start each job with `CHECKOUT` (act copies this checkout for it, without cloning),
then `uses: ./` is the Action under test. Nothing is pulled or cloned: no image is used, the
action cache is offline, and a remote action a workflow names must be mapped to a local
directory (`local_repositories`, act's `--local-repository`), or act would clone it from
GitHub. `action_act` maps the actions/cache commit action.yml pins to the stand-in in
tests/action/cache-action (act reads the action.yml of every step of a composite action
before its `if:`, so even `cache: false` needs it). act's cache server is off unless
`cache_server=True`, and then it listens on 127.0.0.1 only. Extra act flags (`--matrix`,
`--job`) go in `run(args=...)`.

Every job gets a last step, run always, that writes `toJSON(steps)` (each step's outcome,
conclusion and outputs) and the matrix to a file; `ActRun.job(name)` reads them back, and
`ActRun.jobs(name)` gives one per matrix combination. `ActRun.log` is act's whole output,
as a user would see it: what a masked value must never appear in; `ActRun.printed(job)` is
what the steps printed and `ActRun.commands(name, job)` the workflow commands act took.

act is built by scripts/setup.sh into .tools/bin (`act_binary`); a test that needs it fails
when it is missing, as CI must not pass by skipping. The environment is clean: HOME is the
test's own directory; only PATH, locale, and this machine's PIP_* and TLS settings (needed
to reach the package index the way the developer's pip does) pass through.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit.action_runner import REPO_ROOT
from testkit.versions import PeerMissingError, action_commit, go_binary

#: act copies the local checkout for actions/checkout of the repository itself: no clone.
CHECKOUT: dict[str, Any] = {"uses": "actions/checkout@v4"}
#: Stands in for actions/cache/restore and /save (see its action.yml files).
CACHE_STAND_IN = REPO_ROOT / "tests" / "action" / "cache-action"
#: The variable the report step writes into; also the marker of that step.
_RESULTS_ENV = "ACT_TEST_RESULTS"
_REPORT_ID = "act-test-report"
_REPORT_STEP: dict[str, Any] = {
    "id": _REPORT_ID,
    "name": "act test: report the steps",
    "if": "${{ always() }}",
    "shell": "bash",
    "env": {"ACT_TEST_STEPS": "${{ toJSON(steps) }}", "ACT_TEST_MATRIX": "${{ toJSON(matrix) }}"},
    "run": (
        'printf \'{"job": "%s", "matrix": %s, "steps": %s}\' "$GITHUB_JOB" "$ACT_TEST_MATRIX" '
        '"$ACT_TEST_STEPS" > "${' + _RESULTS_ENV + '}/${GITHUB_JOB}.$$.$RANDOM.json"'
    ),
}
#: act's line for what a step printed, and for a workflow command it understood.
_PRINTED = re.compile(r"^\[([^\]]+)\]\s+\|(?: (.*))?$")
_COMMAND = re.compile(r"^\[([^\]]+)\]\s+[^\s|]+\s+(::[A-Za-z-]+.*)$")
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS")


def act_binary() -> Path:
    """act at the version scripts/go-tools.txt pins, or a failed test saying how to build it."""
    try:
        return go_binary("act")
    except PeerMissingError as e:
        pytest.fail(str(e), pytrace=False)


@dataclass(frozen=True)
class Step:
    """One step as a later step of its job sees it (`steps.<id>`)."""

    outcome: str
    conclusion: str
    outputs: dict[str, str]


@dataclass(frozen=True)
class Job:
    name: str
    matrix: dict[str, Any] | None
    steps: dict[str, Step]

    def step(self, step_id: str) -> Step:
        assert step_id in self.steps, f"step {step_id!r} did not run; ran: {sorted(self.steps)}"
        return self.steps[step_id]


@dataclass
class ActRun:
    returncode: int
    #: act's output (stdout and stderr, interleaved as printed).
    log: str
    seconds: float
    reports: list[Job] = field(default_factory=list)

    def jobs(self, name: str) -> list[Job]:
        return [job for job in self.reports if job.name == name]

    def job(self, name: str) -> Job:
        found = self.jobs(name)
        assert len(found) == 1, f"job {name!r} reported {len(found)} times\n{self.log}"
        return found[0]

    def printed(self, job: str | None = None) -> list[str]:
        """What the steps printed, as act shows it (its `| ` lines), without act's prefix;
        of one job (by id; each of its matrix combinations too) or of all."""
        return [m.group(2) or "" for m in self._lines(_PRINTED, job)]

    def commands(self, name: str, job: str | None = None) -> list[str]:
        """The workflow commands named `name` that act understood (shown with its glyph), as
        printed (`::name ...::data`); add-mask is shown as `***` only, so it is not here."""
        return [
            m.group(2)
            for m in self._lines(_COMMAND, job)
            if re.match(rf"::{re.escape(name)}[ :]", m.group(2))
        ]

    def _lines(self, pattern: re.Pattern[str], job: str | None) -> list[re.Match[str]]:
        matches = [m for m in map(pattern.match, self.log.splitlines()) if m]
        if job is None:
            return matches
        own = re.compile(rf".*/{re.escape(job)}(?:-\d+)?")
        return [m for m in matches if own.fullmatch(m.group(1).rstrip())]  # act pads the names


class Act:
    """One act invocation per `run`, with its own action cache, workspace copy and HOME."""

    def __init__(
        self,
        tmp: Path,
        *,
        repo: Path = REPO_ROOT,
        cache_server: bool = False,
        local_repositories: Mapping[str, Path] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.tmp = tmp
        self.repo = repo
        self.cache_server = cache_server
        self.local_repositories = dict(local_repositories or {})
        self.env = dict(env or {})
        self._runs = 0

    def run(
        self,
        workflow: Mapping[str, Any],
        *,
        secrets: Mapping[str, str] | None = None,
        event: str = "push",
        args: Sequence[str] = (),
        timeout: float = 600,
    ) -> ActRun:
        self._runs += 1
        base = self.tmp / f"act-{self._runs}"
        results, home = base / "results", base / "home"
        for d in (results, home):
            d.mkdir(parents=True, exist_ok=True)
        workflow_file = base / "workflow.yml"
        workflow_file.write_text(yaml.safe_dump(_with_reports(workflow), sort_keys=False), encoding="utf-8")
        secret_file = base / "secrets.env"
        secret_file.write_text("".join(f"{k}={json.dumps(v)}\n" for k, v in (secrets or {}).items()))
        empty = base / "empty.env"
        empty.touch()

        argv = [
            str(act_binary()),
            event,
            "--directory", str(self.repo),
            "--workflows", str(workflow_file),
            "--platform", "ubuntu-latest=-self-hosted",
            "--action-offline-mode",
            "--pull=false",
            "--action-cache-path", str(base / "act-cache"),
            "--secret-file", str(secret_file),
            "--env-file", str(empty),
            "--var-file", str(empty),
            "--input-file", str(empty),
            "--env", f"{_RESULTS_ENV}={results}",
        ]  # fmt: skip
        if self.cache_server:
            argv += [
                "--cache-server-addr", "127.0.0.1",
                "--cache-server-port", "0",
                "--cache-server-path", str(self.tmp / "act-cache-server"),
            ]  # fmt: skip
        else:
            argv.append("--no-cache-server")
        for repository, directory in self.local_repositories.items():
            argv += ["--local-repository", f"{repository}={directory}"]
        argv += list(args)

        process_env = {k: v for k, v in os.environ.items() if k in _PASSED_ENV or k.startswith("PIP_")}
        process_env.update(
            HOME=str(home),
            PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
            # act prints step lines with colours when it thinks it writes to a terminal.
            NO_COLOR="1",
        )
        process_env.update(self.env)
        started = time.perf_counter()
        proc = subprocess.run(
            argv,
            cwd=base,
            env=process_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        seconds = time.perf_counter() - started
        reports = [_read_report(path) for path in sorted(results.glob("*.json"))]
        return ActRun(proc.returncode, proc.stdout, seconds, reports)


def _with_reports(workflow: Mapping[str, Any]) -> dict[str, Any]:
    """The workflow with the report step appended to every job."""
    data = json.loads(json.dumps(workflow))  # a deep copy
    for job in data["jobs"].values():
        job["steps"] = [*job["steps"], _REPORT_STEP]
    return data


def _read_report(path: Path) -> Job:
    data = json.loads(path.read_text(encoding="utf-8"))
    steps = {
        step_id: Step(s.get("outcome", ""), s.get("conclusion", ""), dict(s.get("outputs") or {}))
        for step_id, s in (data["steps"] or {}).items()
        if step_id != _REPORT_ID
    }
    return Job(data["job"], data["matrix"] or None, steps)


def workflow(*jobs: tuple[str, Sequence[Mapping[str, Any]]], name: str = "act test") -> dict[str, Any]:
    """A push workflow of the given (job id, steps), each job on ubuntu-latest."""
    return {
        "name": name,
        "on": "push",
        "jobs": {job_id: {"runs-on": "ubuntu-latest", "steps": list(steps)} for job_id, steps in jobs},
    }


def pinned_cache_action() -> str:
    """`actions/cache@SHA` as action.yml pins it (restore and save share the commit)."""
    return f"actions/cache@{action_commit('actions/cache')}"


def action_act(tmp: Path, *, cache_server: bool = False, env: Mapping[str, str] | None = None) -> Act:
    """An `Act` for workflows that use the Action: actions/cache mapped to the stand-in."""
    return Act(
        tmp, cache_server=cache_server, local_repositories={pinned_cache_action(): CACHE_STAND_IN}, env=env
    )
