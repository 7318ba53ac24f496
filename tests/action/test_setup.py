"""action.yml's set-up as a runner meets it: a first job, a later job, a second use in one job.

A first job is a fresh RUNNER_TEMP, no pip cache (PIP_NO_CACHE_DIR=1), no local wheels
(no PIP_FIND_LINKS) and no uv on PATH: the runner's pip installs the lock from PyPI. A
later job starts with an empty RUNNER_TEMP too, and actions/cache restores the environment
the first job saved (a `DirectoryCache` here). The set-up time is printed and recorded
(`record_property`), not asserted: the target is measured by bench/action_startup.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.action_runner import REPO_ROOT, ActionRun, ActionRunner, CacheCall, DirectoryCache
from testkit.make_layout import make_layout
from testkit.registry import RunningRegistry

#: What a runner's first job has: no pip cache, no local wheel directory.
FIRST_JOB_ENV = {"PIP_NO_CACHE_DIR": "1"}
FIRST_JOB_DROP = ("PIP_FIND_LINKS", "PIP_CACHE_DIR", "UV_CACHE_DIR")
SETUP_STEPS = ("setup", "restore", "install")
UV = Path(sys.executable).parent / "uv"


def _path_without_uv() -> str:
    dirs = os.environ.get("PATH", os.defpath).split(os.pathsep)
    return os.pathsep.join(d for d in dirs if not (Path(d) / "uv").exists())


def _setup_seconds(run: ActionRun) -> float:
    return sum(run.step_seconds.get(step, 0.0) for step in SETUP_STEPS)


def _installed(run: ActionRun) -> bool:
    return any(c.name == "group" and "Installing oci-promote" in c.message for c in run.commands)


def _promote(action: ActionRunner, layout: Path, registry: RunningRegistry) -> ActionRun:
    return action.run(
        {"source": f"oci:{layout}:v1", "destinations": registry.ref("selftest/app", "v1")},
        env={**FIRST_JOB_ENV, "PATH": _path_without_uv()},
        drop_env=FIRST_JOB_DROP,
    )


def _copy_action(to: Path) -> Path:
    """The action's files as `uses:` checks them out, to tamper with a copy."""
    to.mkdir()
    for name in ("action.yml", "pyproject.toml"):
        shutil.copy2(REPO_ROOT / name, to / name)
    for name in ("action-runtime", "src"):
        shutil.copytree(REPO_ROOT / name, to / name, ignore=shutil.ignore_patterns("__pycache__"))
    return to


def _another_python() -> str | None:
    """A Python 3.10+ other than this one (pyenv's, or on PATH), if the machine has one."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [str(p) for p in sorted(pyenv.glob("versions/3.1[0-9]*/bin/python3"))]
    candidates += [shutil.which(f"python3.{minor}") or "" for minor in range(10, 15)]
    for candidate in candidates:
        if not candidate or os.path.realpath(candidate) == os.path.realpath(sys.executable):
            continue
        proc = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info >= (3, 10))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.stdout.strip() == "True":
            return candidate
    return None


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    make_layout(tmp_path / "layout", "v1")
    return tmp_path / "layout"


@pytest.mark.slow
def test_first_job_installs_with_the_runners_pip_and_saves_after_the_promotion(
    tmp_path: Path, layout: Path, registry: RunningRegistry, record_property: pytest.RecordProperty
) -> None:
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    action = ActionRunner(runner_temp, tmp_path / "work")
    run = _promote(action, layout, registry)

    assert run.returncode == 0, run.stdout + run.stderr
    assert _installed(run)
    assert "Successfully installed" in run.stdout  # pip, not uv
    assert list(run.step_outcomes) == ["setup", "restore", "install", "promote", "save"]
    [restore, save] = run.cache_calls
    key = restore.key
    venv = runner_temp / ("oci-promote-" + "-".join(key.split("-")[-2:]))
    assert restore == CacheCall("actions/cache/restore", key, (str(venv),), hit=False)
    assert save == CacheCall("actions/cache/save", key, (str(venv),), hit=False)
    # The key: runner OS and architecture, the interpreter (version, build), the lock.
    assert re.fullmatch(
        r"oci-promote-venv1-Linux-(X64|ARM64)-cpython3\.\d+\.\d+-[0-9a-f]{8}-[0-9a-f]{16}", key
    )
    lock = (REPO_ROOT / "action-runtime" / "requirements.txt").read_bytes()
    assert key.endswith("-" + hashlib.sha256(lock).hexdigest()[:16])
    assert (venv / ".oci-promote-key").read_text(encoding="utf-8").splitlines()[0] == key
    # Nothing of the action itself is installed: its code comes from the checkout.
    [site] = venv.glob("lib/python*/site-packages")
    assert not (site / "oci_promote").exists() and not list(site.glob("oci_promote-*.dist-info"))
    assert (site / "oci_promote_checkout.pth").read_text(encoding="utf-8") == f"{REPO_ROOT / 'src'}\n"

    seconds = _setup_seconds(run)
    record_property("first_job_setup_seconds", round(seconds, 2))
    print(f"\nfirst job: set-up {seconds:.2f} s, promotion {run.step_seconds['promote']:.2f} s")


def test_the_key_changes_with_the_lock_and_the_python(tmp_path: Path) -> None:
    action = _copy_action(tmp_path / "action")

    def key(python: str) -> str:
        out = tmp_path / "out"
        out.write_text("")
        env = {"GITHUB_ACTION_PATH": str(action), "RUNNER_TEMP": str(tmp_path), "GITHUB_OUTPUT": str(out)}
        env.update(RUNNER_OS="Linux", RUNNER_ARCH="X64", PATH=os.environ["PATH"])
        subprocess.run([python, str(action / "action-runtime" / "venv.py"), "key"], env=env, check=True)
        return dict(line.split("=", 1) for line in out.read_text().splitlines())["key"]

    before = key(sys.executable)
    assert before.startswith("oci-promote-venv1-Linux-X64-cpython")
    lock = action / "action-runtime" / "requirements.txt"
    lock.write_text(lock.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    after = key(sys.executable)
    assert after != before and after.split("-")[:-1] == before.split("-")[:-1]
    other = _another_python()
    if other is not None:
        assert key(other).split("-")[4:6] != after.split("-")[4:6]


@pytest.mark.slow
def test_a_later_job_restores_the_environment_and_installs_nothing(
    tmp_path: Path, layout: Path, registry: RunningRegistry, record_property: pytest.RecordProperty
) -> None:
    runner_temp = tmp_path / "runner-temp"
    cache = DirectoryCache(tmp_path / "cache")
    runner_temp.mkdir()
    first = _promote(ActionRunner(runner_temp, tmp_path / "job1", cache=cache), layout, registry)
    assert first.returncode == 0 and _installed(first), first.stdout + first.stderr

    shutil.rmtree(runner_temp)  # every job starts with an empty RUNNER_TEMP
    runner_temp.mkdir()
    later = _promote(ActionRunner(runner_temp, tmp_path / "job2", cache=cache), layout, registry)
    assert later.returncode == 0, later.stdout + later.stderr
    assert not _installed(later)
    assert [(c.action, c.hit) for c in later.cache_calls] == [("actions/cache/restore", True)]
    assert "save" not in later.step_outcomes

    # A second use in the same job: the environment is there, nothing is even restored.
    again = _promote(ActionRunner(runner_temp, tmp_path / "job2", cache=cache), layout, registry)
    assert again.returncode == 0 and not _installed(again) and again.cache_calls == []

    for name, run in (("later_job", later), ("same_job", again)):
        seconds = _setup_seconds(run)
        record_property(f"{name}_setup_seconds", round(seconds, 2))
        print(f"\n{name}: set-up {seconds:.2f} s, promotion {run.step_seconds['promote']:.2f} s")


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["distribution-added", "marker-of-another-key", "python-gone"])
def test_a_restored_environment_that_does_not_check_out_is_made_again(
    tmp_path: Path, layout: Path, registry: RunningRegistry, damage: str
) -> None:
    runner_temp = tmp_path / "runner-temp"
    cache = DirectoryCache(tmp_path / "cache")
    runner_temp.mkdir()
    first = _promote(ActionRunner(runner_temp, tmp_path / "job1", cache=cache), layout, registry)
    assert first.returncode == 0, first.stdout + first.stderr
    [_, save] = first.cache_calls
    venv = Path(save.paths[0])
    [site] = venv.glob("lib/python*/site-packages")
    if damage == "distribution-added":
        (site / "evil-1.0.dist-info").mkdir()
        (site / "evil.pth").write_text("import os\n")
    elif damage == "marker-of-another-key":
        marker = venv / ".oci-promote-key"
        lines = marker.read_text(encoding="utf-8").splitlines()
        marker.write_text("\n".join([lines[0][:-1] + "0", *lines[1:]]) + "\n", encoding="utf-8")
    else:
        (venv / "bin" / "python").unlink()
        (venv / "bin" / "python").symlink_to(tmp_path / "no-such-python")
    # The damaged environment is what the cache holds now, as if saved by another job.
    cache.archive(save.key).unlink()
    cache.save(save.key, save.paths)
    shutil.rmtree(runner_temp)
    runner_temp.mkdir()

    later = _promote(ActionRunner(runner_temp, tmp_path / "job2", cache=cache), layout, registry)
    assert later.returncode == 0, later.stdout + later.stderr
    assert later.cache_calls[0].hit
    assert _installed(later), "a damaged environment was trusted"
    if damage != "python-gone":
        assert "oci-promote: not using the environment in" in later.stderr
    assert not (site / "evil.pth").exists()


@pytest.mark.slow
def test_a_tampered_lock_entry_is_refused(tmp_path: Path, layout: Path, registry: RunningRegistry) -> None:
    action_path = _copy_action(tmp_path / "action")
    lock = action_path / "action-runtime" / "requirements.txt"
    text = lock.read_text(encoding="utf-8")
    start = text.index("idna==")
    end = text.index("# via", start)
    entry = text[start:end]
    # Every hash of one entry changed (its last hex digit): the file pip fetches no longer matches.
    tampered = re.sub(
        r"(sha256:[0-9a-f]{63})([0-9a-f])", lambda m: m[1] + ("1" if m[2] == "0" else "0"), entry
    )
    assert tampered != entry and tampered.count("sha256:") == 2
    lock.write_text(text[:start] + tampered + text[end:], encoding="utf-8")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    action = ActionRunner(runner_temp, tmp_path / "work", action_path=action_path)

    run = _promote(action, layout, registry)

    assert run.returncode == 1
    assert run.step_outcomes["install"] == "failure" and "promote" not in run.step_outcomes
    assert "DO NOT MATCH THE HASHES" in run.stdout + run.stderr
    [error] = run.annotations("error")
    assert error.properties["title"] == "oci-promote setup failed"
    assert [c.action for c in run.cache_calls] == ["actions/cache/restore"]  # nothing saved
    assert not list(runner_temp.glob("oci-promote-*/.oci-promote-key"))


@pytest.mark.slow
def test_uv_on_path_installs_the_same_lock(
    tmp_path: Path, layout: Path, registry: RunningRegistry, record_property: pytest.RecordProperty
) -> None:
    assert UV.exists(), f"{UV} is missing: uv is in the test extra (pip install -e '.[test]')"
    uv_dir = tmp_path / "uv-bin"
    uv_dir.mkdir()
    (uv_dir / "uv").symlink_to(UV)
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    action = ActionRunner(runner_temp, tmp_path / "work")
    run = action.run(
        {"source": f"oci:{layout}:v1", "destinations": registry.ref("selftest/app", "v1")},
        # uv reads SSL_CERT_FILE where pip reads PIP_CERT (this machine's TLS interception)
        env={
            **FIRST_JOB_ENV,
            "PATH": os.pathsep.join([str(uv_dir), _path_without_uv()]),
            **({"SSL_CERT_FILE": os.environ["PIP_CERT"]} if "PIP_CERT" in os.environ else {}),
        },
        drop_env=FIRST_JOB_DROP,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert _installed(run) and "Successfully installed" not in run.stdout
    assert "+ httpx==" in run.stderr  # uv's report
    seconds = _setup_seconds(run)
    record_property("first_job_uv_setup_seconds", round(seconds, 2))
    print(f"\nfirst job with uv: set-up {seconds:.2f} s")


@pytest.mark.slow
def test_a_python3_without_pip_falls_back_to_ensurepip(
    tmp_path: Path, layout: Path, registry: RunningRegistry
) -> None:
    """python3 from a venv made --without-pip: `import pip` fails, as on a bare Debian."""
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    action = ActionRunner(runner_temp, tmp_path / "work")
    run = action.run(
        {"source": f"oci:{layout}:v1", "destinations": registry.ref("selftest/app", "v1")},
        env={**FIRST_JOB_ENV, "PATH": os.pathsep.join([str(bare / "bin"), _path_without_uv()])},
        drop_env=FIRST_JOB_DROP,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert _installed(run) and "Successfully installed" in run.stdout


def test_the_set_up_helper_parses_on_old_pythons() -> None:
    """It runs before the version check, so a runner's old python3 must get as far as the
    check (and its clear message) instead of a SyntaxError."""
    import ast

    source = (REPO_ROOT / "action-runtime" / "venv.py").read_text(encoding="utf-8")
    ast.parse(source, feature_version=(3, 6))
