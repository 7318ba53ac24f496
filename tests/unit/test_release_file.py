"""The promotion file's models, its shipped JSON Schema, prefix mapping and shards (no registry)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oci_promote.errors import UsageError
from oci_promote.release.file import (
    SCHEMA_PATH,
    Defaults,
    LockFile,
    PromotionFileError,
    map_repository,
    parse_promotion,
    schema_json,
)
from oci_promote.release.lock import export_lock
from oci_promote.release.model import PlanFile, PlannedDestination, PlannedEntry, parse_shard, read_plan
from oci_promote.release.shard import assign_shards
from oci_promote.types.reference import parse_reference

D = "sha256:" + "ab" * 32
EXAMPLE = f"""version: 1
defaults:
  referrers: true
  require-referrers: []
  protect: ["v*"]
  include-foreign-layers: false
  to-registry: prod.example.com
  strip-prefix: staging/
  add-prefix: acme/
images:
  - source: staging.example.com/staging/api@{D}
    to: [prod.example.com/acme/api:1.4.2, prod.example.com/acme/api:1.4]
  - source: staging.example.com/staging/web:1.4.2
    expected-digest: {D}
  - source: staging.example.com/staging/tools
    tags: {{allow: ['^v\\d+\\.\\d+\\.\\d+$'], deny: ['-rc']}}
    to: [prod.example.com/acme/tools]
"""


def test_the_shipped_json_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text() == schema_json(), "regenerate: python -m oci_promote.release.file"


def test_the_issue_example_is_valid_and_matches_the_schema() -> None:
    import jsonschema
    import yaml

    promotion = parse_promotion(EXAMPLE)
    assert len(promotion.images) == 3
    assert promotion.effective(promotion.images[1], "protect") == ["v*"]
    jsonschema.validate(yaml.safe_load(EXAMPLE), json.loads(SCHEMA_PATH.read_text()))


def test_every_problem_is_reported_once_with_its_line() -> None:
    text = (
        "version: 2\nimages:\n  - source: a.example/x:1\n    to: []\n"
        "  - source: a.example/y:1\n    tags: {}\n"
    )
    with pytest.raises(PromotionFileError) as caught:
        parse_promotion(text, "f.yaml")
    rendered = [p.render("f.yaml") for p in caught.value.problems]
    assert rendered[0].startswith("f.yaml:1: version:")
    assert any(r.startswith("f.yaml:4: images[0].to:") for r in rendered)
    assert any(r.startswith("f.yaml:6: images[1].tags:") for r in rendered)
    assert caught.value.exit_code == 2


def test_duplicate_keys_and_yaml_errors_have_lines() -> None:
    with pytest.raises(PromotionFileError) as caught:
        parse_promotion("version: 1\nversion: 1\nimages: []\n", "f.yaml")
    assert caught.value.problems[0].render("f.yaml") == "f.yaml:2: version: duplicate key"
    with pytest.raises(PromotionFileError) as caught:
        parse_promotion("version: 1\nimages: [\n", "f.yaml")
    assert "not valid YAML" in str(caught.value)


def test_prefixes_map_the_repository_path() -> None:
    src = parse_reference("staging.example.com/staging/web:1.4.2")
    assert map_repository(src, "prod.example.com", "staging/", "acme/") == "prod.example.com/acme/web"
    assert map_repository(src, "prod.example.com", None, None) == "prod.example.com/staging/web"
    other = parse_reference("staging.example.com/stagingx/web:1")
    assert map_repository(other, "p.example", "staging", None) == "p.example/stagingx/web"


def _entry(n: int, repos: list[str], size: int) -> PlannedEntry:
    return PlannedEntry(
        id=n,
        entry=n,
        source=f"s.example/x{n}:1",
        pinned=f"s.example/x{n}@{D}",
        digest=D,
        media_type="m",
        destinations=[PlannedDestination(reference=f"{r}:1", tag="1") for r in repos],
        bytes=size,
    )


def test_shards_keep_a_destination_repository_together_and_balance_bytes() -> None:
    entries = [
        _entry(1, ["p.example/a"], 100),
        _entry(2, ["p.example/a", "q.example/a"], 100),
        _entry(3, ["p.example/b"], 150),
        _entry(4, ["p.example/c"], 40),
        _entry(5, ["p.example/d"], 40),
    ]
    assert assign_shards(entries, 3) == 3
    shard = {e.id: e.shard for e in entries}
    assert shard[1] == shard[2]  # both write to p.example/a
    loads = {k: sum(e.bytes for e in entries if e.shard == k) for k in (1, 2, 3)}
    assert sorted(loads.values()) == [80, 150, 200]
    assert assign_shards(entries, 256) == 4  # never more shards than groups
    assert assign_shards(entries, "auto") == 1


def test_export_keys_stay_distinct() -> None:
    lock = LockFile.model_validate(
        {
            "version": 1,
            "images": [
                {
                    "source": "s.example/a/api:1",
                    "digest": D,
                    "destinations": [
                        {"reference": "p.example/acme/api:1", "pinned": f"p.example/acme/api@{D}"},
                        {"reference": "p.example/beta/api:1", "pinned": f"p.example/beta/api@{D}"},
                    ],
                }
            ],
        }
    )
    assert export_lock(lock, "env") == (f"ACME_API=p.example/acme/api@{D}\nBETA_API=p.example/beta/api@{D}\n")


def test_a_lock_is_the_next_hops_promotion_file() -> None:
    lock = {
        "version": 1,
        "images": [
            {
                "source": "staging.example/staging/api:1.4.2",
                "digest": D,
                "destinations": [
                    {"reference": "us.example/acme/api:1.4.2", "pinned": f"us.example/acme/api@{D}"},
                    {"reference": "us.example/acme/api:1.4", "pinned": f"us.example/acme/api@{D}"},
                ],
                "referrers": [],
            }
        ],
    }
    with pytest.raises(UsageError, match="--to-registry"):
        parse_promotion(json.dumps(lock))
    hop = parse_promotion(json.dumps(lock), overrides=Defaults(to_registry="eu.example", add_prefix="mirror"))
    (image,) = hop.images
    assert image.source == f"us.example/acme/api@{D}"
    assert image.to == ["eu.example/mirror/acme/api:1.4.2", "eu.example/mirror/acme/api:1.4"]


def test_shard_arguments_and_plan_files_are_checked(tmp_path: Path) -> None:
    plan = PlanFile(shards=4, entries=[_entry(1, ["p.example/a"], 1)])
    assert parse_shard("2/4", plan) == 2
    for bad in ("2", "5/4", "1/3", "0/4", "a/b"):
        with pytest.raises(UsageError):
            parse_shard(bad, plan)
    assert plan.matrix() == {"include": [{"shard": f"{k}/4"} for k in range(1, 5)]}
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    assert read_plan(path) == plan
    path.write_text('{"entries": "no"}')
    with pytest.raises(UsageError, match="not a plan"):
        read_plan(path)
