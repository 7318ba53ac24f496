"""Run action.yml's composite steps the way the GitHub runner does, for tests.

What is emulated: the declared inputs with their defaults (a default may itself be an
expression such as `${{ github.token }}`); the `${{ inputs.* }}`, `${{ github.* }}`,
`${{ runner.* }}`, `${{ env.* }}` and `${{ steps.<id>.outputs.* }}` expressions in `env:`,
`run:` and output `value:`s; a fresh `GITHUB_OUTPUT` file per step; `GITHUB_ENV`,
`GITHUB_PATH` and `GITHUB_STEP_SUMMARY`; each `run:` step in its declared shell, invoked
as the runner invokes it; `if:` conditions made of `&&`, the status functions and
`steps.<id>.outputs.<name> ==`/`!=` a string; `continue-on-error: true`; a failed step
makes later steps skip unless their `if:` says otherwise. Of `uses:`, only
`actions/cache/restore` and `actions/cache/save`, against a `CacheStore`: by default
every restore misses (as on a runner's first job) and saves are only recorded; a
`DirectoryCache` keeps archives in a directory, for tests and the bench of a later job.
Anything else (another expression or action, an unknown shell) fails the test loudly, so
action.yml cannot come to rely on something this emulation does not do.

The environment is clean: HOME is the test's own directory, so no real Docker config or
pip configuration of the user leaks in, except PIP_* settings of this machine (needed
to reach the package index the same way the developer's pip does).
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import tarfile
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
ACTION_YML = REPO_ROOT / "action.yml"
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
#: A workflow command as both GitHub's runner and act read it: act wants properties after a
#: space (`::error title=T::m`), none without (`::add-mask::V`); `::add-mask ::V` is text to it.
_COMMAND = re.compile(r"^::(?P<name>[A-Za-z-]+)(?: (?P<props>.+?))?::(?P<data>.*)$")
_SHELLS = {
    "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"],
    "sh": ["sh", "-e", "{0}"],
}


_STEP_KEYS = {"name", "id", "shell", "run", "env", "if", "continue-on-error", "uses", "with"}
_CACHE_ACTIONS = ("actions/cache/restore", "actions/cache/save")
_RUNNER_ARCH = {"x86_64": "X64", "amd64": "X64", "aarch64": "ARM64", "arm64": "ARM64"}


@dataclass(frozen=True)
class CacheCall:
    """One use of actions/cache/restore or /save: what a real cache service would be asked."""

    action: str
    key: str
    paths: tuple[str, ...]
    hit: bool


class CacheStore(Protocol):
    def restore(self, key: str, paths: tuple[str, ...]) -> bool: ...

    def save(self, key: str, paths: tuple[str, ...]) -> None: ...


class MissingCache:
    """A runner's first job: nothing to restore; saves are only recorded (in ActionRun)."""

    def restore(self, key: str, paths: tuple[str, ...]) -> bool:
        return False

    def save(self, key: str, paths: tuple[str, ...]) -> None:
        pass


class DirectoryCache:
    """actions/cache in a directory: one tar archive per key, paths kept absolute, an exact
    key only (action.yml uses no restore-keys); like the service, a key is never replaced."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def archive(self, key: str) -> Path:
        return self.root / f"{key}.tar"

    def restore(self, key: str, paths: tuple[str, ...]) -> bool:
        archive = self.archive(key)
        if not archive.exists():
            return False
        with tarfile.open(archive) as tar:
            tar.extractall("/", filter="tar")
        return True

    def save(self, key: str, paths: tuple[str, ...]) -> None:
        archive = self.archive(key)
        if archive.exists():
            return
        with tarfile.open(archive, "w") as tar:
            for path in paths:
                tar.add(path, arcname=path.lstrip("/"))


def load_action(path: Path = ACTION_YML) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def unescape_data(text: str) -> str:
    """The runner's decoding of a workflow command's message (% last, as it was escaped first)."""
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    return (
        text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )


@dataclass(frozen=True)
class Command:
    """One workflow command the action printed, decoded as the runner decodes it."""

    name: str
    properties: dict[str, str]
    message: str


def parse_commands(text: str) -> list[Command]:
    commands = []
    for line in text.splitlines():
        match = _COMMAND.match(line.strip())
        if match is None:
            continue
        props: dict[str, str] = {}
        for item in (match["props"] or "").split(","):
            key, eq, value = item.partition("=")
            if eq:
                props[key.strip()] = unescape_property(value)
        commands.append(Command(match["name"], props, unescape_data(match["data"])))
    return commands


def _is_command(line: str, name: str) -> bool:
    match = _COMMAND.match(line.strip())
    return match is not None and match["name"] == name


def parse_file_commands(text: str) -> dict[str, str]:
    """`name=value` and `name<<DELIMITER ... DELIMITER` records, as in GITHUB_OUTPUT/GITHUB_ENV."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            values[line[:eq]] = line[eq + 1 :]
            continue
        assert heredoc > 0, f"malformed file command record: {line!r}"
        name, delimiter = line[:heredoc], line[heredoc + 2 :]
        body: list[str] = []
        while True:
            assert i < len(lines), f"no closing delimiter {delimiter!r} for {name!r}"
            if lines[i] == delimiter:
                i += 1
                break
            body.append(lines[i])
            i += 1
        values[name] = "\n".join(body)
    return values


@dataclass
class ActionRun:
    """Everything a workflow could observe of one use of the action."""

    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    artifacts: str
    #: "success" or "failure" of each step that ran, by id; skipped steps are absent.
    step_outcomes: dict[str, str] = field(default_factory=dict)
    #: Wall time of each step that ran (skipped steps are absent), by id.
    step_seconds: dict[str, float] = field(default_factory=dict)
    cache_calls: list[CacheCall] = field(default_factory=list)

    @property
    def commands(self) -> list[Command]:
        return parse_commands(self.stdout) + parse_commands(self.stderr)

    def annotations(self, kind: str = "error") -> list[Command]:
        return [c for c in self.commands if c.name == kind]

    @property
    def masks(self) -> list[str]:
        return [c.message for c in self.commands if c.name == "add-mask"]

    def shown(self) -> str:
        """The log as printed, less the `::add-mask::` lines the runner consumes unshown."""
        lines = (self.stdout + "\n" + self.stderr).splitlines()
        return "\n".join(line for line in lines if not _is_command(line, "add-mask"))


class ActionRunner:
    """Runs action.yml with one directory per use for the workspace, HOME and files."""

    def __init__(
        self,
        runner_temp: Path,
        work: Path,
        action_path: Path = REPO_ROOT,
        cache: CacheStore | None = None,
    ) -> None:
        self.runner_temp = runner_temp
        self.work = work
        self.action_path = action_path
        self.cache = cache if cache is not None else MissingCache()
        self.action = load_action(action_path / "action.yml")
        self.github: dict[str, str] = {
            "token": "ghs_FAKEtokenForTests0000000000000000000",
            "actor": "octocat",
            "repository": "acme/api",
            "sha": "0" * 40,
            "workspace": str(work / "workspace"),
            "action_path": str(action_path),
        }
        self._uses = 0

    def run(
        self,
        inputs: Mapping[str, str],
        *,
        env: Mapping[str, str] | None = None,
        drop_env: Collection[str] = (),
        path_prepend: list[Path] | None = None,
        artifacts: bool = False,
        timeout: float = 300,
    ) -> ActionRun:
        self._uses += 1
        base = self.work / f"use-{self._uses}"
        workspace, home = Path(self.github["workspace"]), base / "home"
        for d in (workspace, home, base / "files"):
            d.mkdir(parents=True, exist_ok=True)
        files = {
            name: base / "files" / name
            for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY", "GITHUB_ARTIFACTS")
        }
        for path in files.values():
            path.touch()

        resolved_inputs = self._inputs(inputs)
        path_dirs = [str(p) for p in path_prepend or []] + [os.environ.get("PATH", os.defpath)]
        process_env: dict[str, str] = {
            k: v for k, v in os.environ.items() if k.startswith("PIP_") or k in ("LANG", "LC_ALL", "TZ")
        }
        process_env.update(
            PATH=os.pathsep.join(path_dirs),
            HOME=str(home),
            PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
            CI="true",
            GITHUB_ACTIONS="true",
            GITHUB_ACTION_PATH=str(self.action_path),
            GITHUB_WORKSPACE=str(workspace),
            GITHUB_ACTOR=self.github["actor"],
            GITHUB_REPOSITORY=self.github["repository"],
            GITHUB_SHA=self.github["sha"],
            RUNNER_TEMP=str(self.runner_temp),
            RUNNER_OS="Linux",
            RUNNER_ARCH=_RUNNER_ARCH.get(platform.machine().lower(), platform.machine()),
            GITHUB_ENV=str(files["GITHUB_ENV"]),
            GITHUB_PATH=str(files["GITHUB_PATH"]),
            GITHUB_STEP_SUMMARY=str(files["GITHUB_STEP_SUMMARY"]),
        )
        if artifacts:
            process_env["GITHUB_ARTIFACTS"] = str(files["GITHUB_ARTIFACTS"])
        process_env.update(env or {})
        for name in drop_env:  # e.g. this machine's PIP_FIND_LINKS, which no runner has
            process_env.pop(name, None)

        steps: dict[str, dict[str, str]] = {}
        outcomes: dict[str, str] = {}
        seconds: dict[str, float] = {}
        cache_calls: list[CacheCall] = []
        stdout: list[str] = []
        stderr: list[str] = []
        returncode = 0
        failed = False
        for index, step in enumerate(self.action["runs"]["steps"]):
            unsupported = set(step) - _STEP_KEYS
            assert not unsupported, f"step {index}: {unsupported} not emulated by testkit/action_runner.py"
            step_id = step.get("id", f"__step{index}")
            context = _Context(resolved_inputs, self.github, self.runner_temp, steps, process_env)
            if not context.condition(str(step.get("if", "success()")), failed):
                continue  # a skipped step has no outcome here, no outputs, no time
            started = time.perf_counter()
            if "uses" in step:
                code, outputs, call = self._use(index, step, context)
                cache_calls.append(call)
            else:
                code, outputs, out, err = self._run(index, step, context, process_env, base, timeout)
                stdout.append(out)
                stderr.append(err)
            seconds[step_id] = time.perf_counter() - started
            steps[step_id] = outputs
            # Later steps see what this one added with GITHUB_ENV, as on the runner.
            process_env.update(parse_file_commands(files["GITHUB_ENV"].read_text(encoding="utf-8")))
            outcomes[step_id] = "success" if code == 0 else "failure"
            if code != 0 and step.get("continue-on-error") is not True:
                returncode = returncode or code
                failed = True

        context = _Context(resolved_inputs, self.github, self.runner_temp, steps, process_env)
        outputs = {
            name: context.substitute(str(spec["value"])) for name, spec in self.action["outputs"].items()
        }
        return ActionRun(
            returncode=returncode,
            stdout="".join(stdout),
            stderr="".join(stderr),
            outputs=outputs,
            summary=files["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8"),
            artifacts=files["GITHUB_ARTIFACTS"].read_text(encoding="utf-8"),
            step_outcomes=outcomes,
            step_seconds=seconds,
            cache_calls=cache_calls,
        )

    def _run(
        self,
        index: int,
        step: Mapping[str, Any],
        context: _Context,
        process_env: Mapping[str, str],
        base: Path,
        timeout: float,
    ) -> tuple[int, dict[str, str], str, str]:
        step_env = dict(process_env)
        step_env.update({k: context.substitute(str(v)) for k, v in (step.get("env") or {}).items()})
        output_file = base / "files" / f"GITHUB_OUTPUT.{index}"
        output_file.touch()
        step_env["GITHUB_OUTPUT"] = str(output_file)
        script = base / "files" / f"step{index}.sh"
        script.write_text(context.substitute(step["run"]), encoding="utf-8")
        shell = step.get("shell")
        assert shell in _SHELLS, f"step {index}: shell {shell!r} not emulated"
        argv = [part.replace("{0}", str(script)) for part in _SHELLS[shell]]
        proc = subprocess.run(
            argv,
            cwd=Path(self.github["workspace"]),
            env=step_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        outputs = parse_file_commands(output_file.read_text(encoding="utf-8"))
        return proc.returncode, outputs, proc.stdout, proc.stderr

    def _use(
        self, index: int, step: Mapping[str, Any], context: _Context
    ) -> tuple[int, dict[str, str], CacheCall]:
        action, _, ref = str(step["uses"]).partition("@")
        assert action in _CACHE_ACTIONS, (
            f"step {index}: uses {action} not emulated by testkit/action_runner.py"
        )
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"step {index}: {action} is not pinned by commit"
        with_ = {k: context.substitute(str(v)) for k, v in (step.get("with") or {}).items()}
        assert set(with_) <= {"path", "key"}, f"step {index}: {action} inputs not emulated: {set(with_)}"
        key = with_["key"]
        paths = tuple(line.strip() for line in with_["path"].splitlines() if line.strip())
        assert key and paths, f"step {index}: {action} without key or path"
        outputs: dict[str, str] = {}
        hit = False
        if action.endswith("/restore"):
            hit = self.cache.restore(key, paths)
            outputs["cache-primary-key"] = key
            if hit:  # on a miss the real action leaves cache-hit unset
                outputs.update({"cache-hit": "true", "cache-matched-key": key})
        else:
            self.cache.save(key, paths)
        return 0, outputs, CacheCall(action, key, paths, hit)

    def _inputs(self, given: Mapping[str, str]) -> dict[str, str]:
        declared = self.action["inputs"]
        unknown = set(given) - set(declared)
        assert not unknown, f"inputs not declared in action.yml: {unknown}"
        context = _Context({}, self.github, self.runner_temp, {}, {})
        values = {}
        for name, spec in declared.items():
            if name in given:
                values[name] = given[name]
            else:
                assert not spec.get("required"), f"required input {name!r} not given"
                values[name] = context.substitute(str(spec.get("default", "")))
        return values


@dataclass
class _Context:
    inputs: Mapping[str, str]
    github: Mapping[str, str]
    runner_temp: Path
    steps: Mapping[str, Mapping[str, str]]
    env: Mapping[str, str]

    def substitute(self, text: str) -> str:
        return _EXPRESSION.sub(lambda m: self.evaluate(m.group(1)), text)

    def condition(self, text: str, failed: bool) -> bool:
        """A step's `if:`: terms joined by `&&`. Without a status function, `success() &&` it."""
        match = re.fullmatch(r"\$\{\{\s*(.*?)\s*\}\}", text.strip())
        expression = match.group(1) if match else text.strip()
        statuses = {"success()": not failed, "failure()": failed, "always()": True, "cancelled()": False}
        result, has_status = True, False
        for term in (t.strip() for t in expression.split("&&")):
            negate = term.startswith("!")
            term = term.removeprefix("!").strip()
            if term in statuses:
                has_status = True
                value = statuses[term]
            else:
                comparison = re.fullmatch(r"(\S+)\s*(==|!=)\s*'([^']*)'", term)
                assert comparison, f"if: term not emulated by testkit/action_runner.py: {term!r}"
                equal = self.evaluate(comparison.group(1)) == comparison.group(3)
                value = equal if comparison.group(2) == "==" else not equal
            result = result and (not value if negate else value)
        return result if has_status else result and not failed

    def evaluate(self, expression: str) -> str:
        parts = expression.split(".")
        head = parts[0]
        if head == "inputs" and len(parts) == 2:
            assert parts[1] in self.inputs, f"undeclared input in expression: {expression}"
            return self.inputs[parts[1]]
        if head == "github" and len(parts) == 2:
            assert parts[1] in self.github, f"github context not emulated: {expression}"
            return self.github[parts[1]]
        if head == "runner" and parts[1:] == ["temp"]:
            return str(self.runner_temp)
        if head == "runner" and parts[1:] == ["os"]:
            return "Linux"
        if head == "env" and len(parts) == 2:
            return self.env.get(parts[1], "")
        if head == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.steps.get(parts[1], {}).get(parts[3], "")
        raise AssertionError(f"expression not emulated by testkit/action_runner.py: ${{{{ {expression} }}}}")
