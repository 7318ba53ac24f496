"""Referrers of an image in an `oci:` source layout are the manifests whose subject it is (issue 18 item 13).

regclient-testrepo's v3 has two SBOMs (application/example.sbom) that no tag names: they
are in index.json untagged, which `oras discover --oci-layout` lists and a copy used to miss.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx

from testkit.olareg import OlaregRegistry
from tests.integration.test_cli import TESTREPO, V3, cli

SBOMS = {
    "sha256:819ff4564a5d4a1c07b4e25bbba420cace378d4ed32671e6ee4eea95df1b8c4c",
    "sha256:ad460bc30198d65c14708aa6ec4445498243bc642fce8b64ea7ce21ba559cc79",
}


def _listed_at(registry: OlaregRegistry, repo: str) -> set[str]:
    answer = httpx.get(f"{registry.url}/v2/{repo}/referrers/{V3}", timeout=10)
    answer.raise_for_status()
    return {entry["digest"] for entry in answer.json().get("manifests") or []}


def test_untagged_referrers_in_a_source_layout_are_copied(olareg_registry: OlaregRegistry) -> None:
    result = cli("copy", "--json", f"oci:{TESTREPO}:v3", f"{olareg_registry.host}/sbom/app:v3")
    assert result.returncode == 0, result.stderr
    (dest,) = json.loads(result.stdout)["destinations"]
    assert {r["digest"] for r in dest["referrers"]} == SBOMS
    assert _listed_at(olareg_registry, "sbom/app") == SBOMS


def test_referrers_only_in_the_blobs_are_found_too(tmp_path: Path, olareg_registry: OlaregRegistry) -> None:
    """A layout whose index.json does not list the referrers at all (only their blobs are there)."""
    layout = tmp_path / "layout"
    shutil.copytree(TESTREPO, layout)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"] = [e for e in index["manifests"] if e["digest"] not in SBOMS]
    (layout / "index.json").write_text(json.dumps(index))
    result = cli("copy", f"oci:{layout}:v3", f"{olareg_registry.host}/blobs-only/app:v3")
    assert result.returncode == 0, result.stderr
    assert _listed_at(olareg_registry, "blobs-only/app") == SBOMS


def test_a_type_filter_applies_to_them(olareg_registry: OlaregRegistry) -> None:
    result = cli(
        "copy",
        "--json",
        "--referrer-type",
        "application/other",
        f"oci:{TESTREPO}:v3",
        f"{olareg_registry.host}/f/a",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["destinations"][0]["referrers"] == []
