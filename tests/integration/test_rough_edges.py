"""Small defects from issue 18 (items 18, 19, 20, 23), each against the real thing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import oci_promote
from oci_promote.events import Event
from testkit.registry import RunningRegistry
from tests.integration.test_cli import TESTREPO, V3, cli, seed


def test_help_lists_the_lazy_exports() -> None:
    """Item 18: `help(oci_promote)` showed only `__getattr__` under FUNCTIONS."""
    program = (
        "import pydoc, oci_promote; text = pydoc.render_doc(oci_promote, renderer=pydoc.plaintext); "
        "print(text[text.index('FUNCTIONS'):])"
    )
    shown = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout
    listed = set(re.findall(r"\n    (?:async )?(\w+)(?:\(| = )", shown))  # `name = ` for a wrapped one
    assert {"copy", "copy_async", "resolve_digest", "resolve_digest_async", "parse_reference"} <= listed, (
        listed
    )
    assert {"copy", "copy_async", "resolve_digest", "CopyOptions", "PromoteError"} <= set(dir(oci_promote))


def test_an_async_on_event_callback_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """Item 19: an `async def` callback was accepted, never awaited, and got no event."""
    got: list[Event] = []

    async def on_event(event: Event) -> None:
        got.append(event)

    class Handler:
        async def __call__(self, event: Event) -> None:
            got.append(event)

    for callback in (on_event, Handler()):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "coroutine ... was never awaited" would fail here
            with pytest.raises(TypeError, match="on_event must be a plain function"):
                oci_promote.copy(f"oci:{TESTREPO}:v3", [f"oci:{tmp_path / 'out'}:v3"], on_event=callback)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()
    plain: list[Event] = []
    oci_promote.copy(f"oci:{TESTREPO}:v3", [f"oci:{tmp_path / 'out'}:v3"], on_event=plain.append)
    assert plain


def test_a_layout_with_one_image_under_two_tags_names_no_tag(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    """Item 20: `oci:DIR` said "holds 2 images" for one image under two tags."""
    layout = tmp_path / "two-tags"
    made = cli("copy", "--no-referrers", f"oci:{TESTREPO}:v3", f"oci:{layout}:a", f"oci:{layout}:b")
    assert made.returncode == 0, made.stderr
    assert cli("digest", f"oci:{layout}").stdout.strip() == V3
    copied = cli("copy", f"oci:{layout}", f"{registry.host}/two/tags:x")
    assert copied.returncode == 0, copied.stderr
    assert copied.stdout.strip() == f"{registry.host}/two/tags@{V3}"
    assert cli("copy", "--no-referrers", f"oci:{TESTREPO}:v2", f"oci:{layout}:c").returncode == 0
    two = cli("digest", f"oci:{layout}")
    assert two.returncode == 2 and "holds 2 images" in two.stderr, two.stderr


def _config_with_missing_helper(tmp_path: Path, **sections: object) -> dict[str, str]:
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps(sections))
    return {"DOCKER_CONFIG": str(config_dir), "PATH": os.environ["PATH"]}


def test_a_missing_credential_helper_fails_only_where_credentials_are_needed(
    tmp_path: Path, registry: RunningRegistry, registry2: RunningRegistry, basic_registry: RunningRegistry
) -> None:
    """Item 23: `credsStore` naming a helper not on PATH failed every copy, anonymous ones too."""
    source = seed(registry)
    env = _config_with_missing_helper(tmp_path, credsStore="not-installed")
    anonymous = cli("copy", source, f"{registry2.host}/anon/app", env=env)
    assert anonymous.returncode == 0, anonymous.stderr
    needs = cli("copy", source, f"{basic_registry.host}/sec/app", env=env)
    assert needs.returncode == 2, needs.stderr
    line = needs.stderr.strip().splitlines()[-1]
    assert "docker-credential-not-installed" in line and basic_registry.host in line, line
    assert "Traceback" not in needs.stderr
