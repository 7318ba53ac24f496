"""`mode: verify` run as the runner runs it: a deployment gate that never writes."""

from __future__ import annotations

import json

from oci_promote.action import OUTPUTS
from testkit.action_runner import ActionRunner
from testkit.registry import LogMark, RunningRegistry
from testkit.skopeo import run_skopeo
from tests.action.conftest import Image


def _writes(reg: RunningRegistry, since: LogMark) -> list[str]:
    return [f"{e.method} {e.path}" for e in reg.requests_since(since) if e.method not in ("GET", "HEAD")]


def test_verify_passes_when_every_destination_holds_the_digest(
    action: ActionRunner, image: Image, registry: RunningRegistry
) -> None:
    mark = registry.mark()
    pinned = f"{registry.host}/acme/api@{image.digest}"
    inputs = {"mode": "verify", "source": "", "expected-digest": image.digest}
    run = action.run({**inputs, "destinations": f"{image.ref}\n{pinned}\n{image.ref}"})

    assert run.returncode == 0, run.stdout + run.stderr
    assert not run.annotations("error")
    assert run.outputs["digest"] == image.digest
    assert run.outputs["references"].splitlines() == [pinned] * 3
    report = json.loads(run.outputs["json"])
    assert report["verified"] is True and report["digest"] == image.digest
    assert "### oci-promote: verified" in run.summary
    assert _writes(registry, mark) == []


def test_verify_names_each_mismatch_and_its_causes(
    action: ActionRunner, image: Image, registry: RunningRegistry
) -> None:
    # One platform pulled out of the index by skopeo (no --all): what a pull + push does.
    extracted = registry.ref("acme/api", "amd64")
    run_skopeo(
        [
            "copy",
            "--override-os=linux",
            "--override-arch=amd64",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            f"docker://{image.ref}",
            f"docker://{extracted}",
        ]
    )
    mark = registry.mark()
    run = action.run(
        {
            "mode": "verify",
            "source": "",
            "destinations": f"{image.ref}, {extracted}, {registry.ref('acme/api', 'missing')}",
            "expected-digest": image.digest,
        }
    )

    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    errors = run.annotations("error")
    assert [e.properties["title"] for e in errors] == [
        f"oci-promote: Digest mismatch: {extracted}",
        f"oci-promote: Digest mismatch: {registry.ref('acme/api', 'missing')}",
    ]
    assert f"not {image.digest}" in errors[0].message and "platform-extracted" in errors[0].message
    assert "does not resolve" in errors[1].message
    assert "### oci-promote: verification failed" in run.summary
    assert f"| `{image.ref}` | `{image.digest}` | yes |" in run.summary
    assert "platform-extracted" in run.summary
    assert run.outputs == dict.fromkeys(OUTPUTS, "")
    assert _writes(registry, mark) == []


def test_verify_requires_the_expected_digest(action: ActionRunner, registry: RunningRegistry) -> None:
    mark = registry.mark()
    run = action.run({"mode": "verify", "source": "", "destinations": registry.ref("acme/api", "1")})
    assert run.returncode == 2, run.stdout + run.stderr
    assert [e.properties["title"] for e in run.annotations("error")] == ["Invalid input: expected-digest"]
    assert registry.requests_since(mark) == []
