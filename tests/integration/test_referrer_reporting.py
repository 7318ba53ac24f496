"""What a copy says about referrers and tags (issue 18 items 11, 12, 22), with real cosign signatures."""

from __future__ import annotations

import json

import pytest

from oci_promote.referrers.artifact_types import COSIGN_SIGNATURE
from testkit.registry import RunningRegistry
from testkit.signing import SigningWorld, push_image
from tests.integration.test_cli import cli

pytestmark = pytest.mark.usefixtures("no_docker_login")
GENERIC_CONFIG = "application/vnd.oci.image.config.v1+json"


@pytest.fixture
def signed(registry: RunningRegistry, world: SigningWorld) -> str:
    """An image with cosign's legacy `.sig` digest tag (no artifactType, a generic config)."""
    image = push_image(registry, "app", "v1")
    world.cosign_sign(image.ref, world.key_pair())
    return f"{registry.host}/app:v1"


def test_a_referrer_type_that_matches_nothing_says_so(signed: str, registry2: RunningRegistry) -> None:
    """Item 11: the filter dropped every referrer in silence."""
    result = cli("copy", "--json", "--referrer-type", "application/none", signed, f"{registry2.host}/p/app")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["referrers_found"], report["referrers_kept"]) == (1, 0)
    assert "referrers: 1 found at the source, 0 kept (--referrer-type application/none)" in result.stderr
    kept = cli("copy", "--json", signed, f"{registry2.host}/q/app")
    assert (json.loads(kept.stdout)["referrers_found"], json.loads(kept.stdout)["referrers_kept"]) == (1, 1)


def test_a_cosign_sig_is_reported_as_the_type_the_filter_uses(
    signed: str, registry2: RunningRegistry
) -> None:
    """Item 12: `.sig` was reported as the generic image config type."""
    result = cli("copy", "--json", signed, f"{registry2.host}/p/app")
    assert result.returncode == 0, result.stderr
    (sig,) = json.loads(result.stdout)["destinations"][0]["referrers"]
    assert sig["artifact_type"] == COSIGN_SIGNATURE
    filtered = cli(
        "copy", "--json", "--referrer-type", sig["artifact_type"], signed, f"{registry2.host}/f/app"
    )
    assert json.loads(filtered.stdout)["referrers_kept"] == 1  # the type shown is one the filter takes
    refused = cli("copy", "--require-referrer", "application/none", signed, f"{registry2.host}/r/app")
    assert refused.returncode == 1
    line = refused.stderr.strip().splitlines()[-1]
    assert f"(found: {COSIGN_SIGNATURE})" in line and GENERIC_CONFIG not in line, line


def test_the_summary_names_each_tag_of_one_repository(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    """Item 22: two tags in one repository showed one pinned reference twice."""
    image = push_image(registry, "app", "v1")
    result = cli("copy", f"{registry.host}/app:v1", f"{registry2.host}/p/app:a", f"{registry2.host}/p/app:b")
    assert result.returncode == 0, result.stderr
    for tag in ("a", "b"):
        assert f"{registry2.host}/p/app:{tag}@{image.digest}: " in result.stderr, result.stderr
