"""The engine on the in-memory storage: write order, all-or-nothing tags, skips, mounts, sharing.

No process, no socket: each test runs in milliseconds. What reaches real
registries is tested in tests/integration.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from oci_promote.engine.copy import Endpoint, Source, run_copy
from oci_promote.errors import IncompleteSourceError, PromoteError, ProtectedTagError, RegistryError
from oci_promote.events import BlobDone, Event, TagMoved
from oci_promote.result import CopyResult
from oci_promote.storage.memory import MemoryRegistry, MemoryStorage
from oci_promote.types.digest import Digest
from tests.unit.memory_images import add_index, blob_count

BLOBS = blob_count()
CHILDREN = 2


def copy(
    source: MemoryStorage, tag: str, dests: list[tuple[MemoryStorage, str | None]], **kwargs: Any
) -> CopyResult:
    endpoints = [Endpoint(s.description, t, None, s) for s, t in dests]
    return anyio.run(
        lambda: run_copy(Source(source, tag, None, f"{source.description}:{tag}"), endpoints, **kwargs)
    )


@pytest.fixture
def hub() -> MemoryRegistry:
    return MemoryRegistry("src")


@pytest.fixture
def image(hub: MemoryRegistry) -> Digest:
    return add_index(hub, "app", "v1")


def test_one_destination_writes_blobs_then_children_then_the_tag(hub: MemoryRegistry, image: Digest) -> None:
    dst = MemoryRegistry("dst")
    result = copy(hub.storage("app"), "v1", [(dst.storage("prod/app"), "v1")])
    writes = dst.writes()
    kinds = [op for op, _, _ in writes]
    assert kinds == ["put_blob"] * BLOBS + ["put_manifest"] * (CHILDREN + 1)
    manifests = [target for op, _, target in writes if op == "put_manifest"]
    assert all(t.startswith("sha256:") for t in manifests[:CHILDREN]) and manifests[-1] == "v1"
    assert str(image) not in manifests  # one destination: the top goes straight to its tag
    assert dst.repositories["prod/app"].tags["v1"] == image
    d = result.destinations[0]
    assert (d.blobs_copied, d.blobs_skipped, d.manifests_pushed) == (BLOBS, 0, CHILDREN + 1)


def test_several_destinations_move_tags_only_after_every_top_manifest(
    hub: MemoryRegistry, image: Digest
) -> None:
    dst = MemoryRegistry("dst")
    copy(hub.storage("app"), "v1", [(dst.storage("a"), "v1"), (dst.storage("b"), "stable")])
    writes = dst.writes()
    last_untagged = max(i for i, (op, _, t) in enumerate(writes) if t.startswith("sha256:"))
    first_tag = min(
        i for i, (op, _, t) in enumerate(writes) if op == "put_manifest" and not t.startswith("sha256:")
    )
    assert last_untagged < first_tag
    assert ("put_manifest", "a", str(image)) in writes and ("put_manifest", "b", str(image)) in writes
    assert [w for w in writes[first_tag:]] == [("put_manifest", "a", "v1"), ("put_manifest", "b", "stable")]


def test_a_failing_destination_moves_no_tag_anywhere(hub: MemoryRegistry, image: Digest) -> None:
    dst = MemoryRegistry("dst")

    def refuse_b(op: str, repo: str, target: str) -> PromoteError | None:
        if op == "put_manifest" and repo == "b":
            return RegistryError("dst/b: answered HTTP 500", registry="dst", status=500)
        return None

    dst.fail = refuse_b
    with pytest.raises(RegistryError) as caught:
        copy(hub.storage("app"), "v1", [(dst.storage("a"), "v1"), (dst.storage("b"), "v1")])
    assert str(caught.value).startswith("destination dst/b:v1: ")
    assert str(caught.value).endswith("; no tag was moved")
    assert (caught.value.destination, caught.value.tags_moved) == ("dst/b:v1", ())
    assert dst.repositories["a"].tags == {} and dst.repositories["b"].tags == {}


def test_a_failure_among_the_tags_names_the_tags_that_moved(hub: MemoryRegistry, image: Digest) -> None:
    dst = MemoryRegistry("dst")
    dst.fail = lambda op, repo, target: (
        RegistryError("refused", registry="dst")
        if (op, repo, target) == ("put_manifest", "b", "v1")
        else None
    )
    with pytest.raises(RegistryError) as caught:
        copy(hub.storage("app"), "v1", [(dst.storage("a"), "v1"), (dst.storage("b"), "v1")], jobs=1)
    assert str(caught.value) == "destination dst/b:v1: refused; tags already moved: dst/a:v1"
    # the same facts as fields, for the CLI's --json, the Action and library callers
    assert (caught.value.destination, caught.value.tags_moved) == ("dst/b:v1", ("dst/a:v1",))


def test_a_failure_after_every_tag_moved_names_them_all(hub: MemoryRegistry, image: Digest) -> None:
    """The last step, resolving each destination again, fails after the tags moved."""
    dst = MemoryRegistry("dst")
    tagged = ("put_manifest", "b", "v1")
    dst.fail = lambda op, repo, target: (
        RegistryError("gone", registry="dst")
        if (op, repo) == ("resolve", "b") and tagged in dst.log
        else None
    )
    dests = [(dst.storage("a"), "v1"), (dst.storage("b"), "v1")]
    with pytest.raises(RegistryError) as caught:
        copy(hub.storage("app"), "v1", dests, jobs=1)
    assert caught.value.tags_moved == ("dst/a:v1", "dst/b:v1")


def test_a_missing_source_blob_names_the_source_and_writes_no_manifest(
    hub: MemoryRegistry, image: Digest
) -> None:
    victim = next(iter(hub.repositories["app"].blobs))
    del hub.repositories["app"].blobs[victim]
    dst = MemoryRegistry("dst")
    with pytest.raises(IncompleteSourceError) as caught:
        copy(hub.storage("app"), "v1", [(dst.storage("x"), "v1")], jobs=1)
    message = str(caught.value)
    assert message.startswith("source: ") and str(victim) in message  # not the destination's fault
    assert caught.value.destination is None
    assert "no tag was moved" in message
    assert not [w for w in dst.writes() if w[0] == "put_manifest"]


def test_an_up_to_date_destination_is_only_asked(hub: MemoryRegistry, image: Digest) -> None:
    dst = MemoryRegistry("dst")
    copy(hub.storage("app"), "v1", [(dst.storage("x"), "v1")])
    dst.log.clear()
    again = copy(hub.storage("app"), "v1", [(dst.storage("x"), "v1")])
    assert dst.log == [("resolve", "x", "v1")]
    d = again.destinations[0]
    assert d.up_to_date and d.blobs_skipped == BLOBS and d.manifests_skipped == CHILDREN + 1


def test_an_image_there_by_digest_costs_one_tag_put(hub: MemoryRegistry, image: Digest) -> None:
    dst = MemoryRegistry("dst")
    copy(hub.storage("app"), "v1", [(dst.storage("x"), None)])  # pinned by digest only
    dst.log.clear()
    copy(hub.storage("app"), "v1", [(dst.storage("x"), "prod")])
    assert dst.writes() == [("put_manifest", "x", "prod")]


def test_only_missing_blobs_are_sent(hub: MemoryRegistry, image: Digest) -> None:
    dst = MemoryRegistry("dst")
    src_repo = hub.repositories["app"]
    have = list(src_repo.blobs.items())[:2]
    dst.storage("x")._repo.blobs.update(have)
    result = copy(hub.storage("app"), "v1", [(dst.storage("x"), "v1")])
    sent = {t for op, _, t in dst.writes() if op == "put_blob"}
    assert sent == {str(d) for d in src_repo.blobs} - {str(d) for d, _ in have}
    assert result.destinations[0].blobs_skipped == 2


def test_blobs_are_mounted_within_one_registry(hub: MemoryRegistry, image: Digest) -> None:
    result = copy(hub.storage("app"), "v1", [(hub.storage("other"), "v1")])
    ops = [op for op, repo, _ in hub.writes() if repo == "other"]
    assert ops.count("mount_blob") == BLOBS and "put_blob" not in ops
    assert result.destinations[0].blobs_mounted == BLOBS and result.destinations[0].bytes_copied == 0


def test_tags_in_one_repository_share_the_blobs_and_children(hub: MemoryRegistry, image: Digest) -> None:
    dst = MemoryRegistry("dst")
    result = copy(hub.storage("app"), "v1", [(dst.storage("x"), "v1"), (dst.storage("x"), "stable")])
    writes = dst.writes()
    assert sum(op == "put_blob" for op, _, _ in writes) == BLOBS
    manifests = [t for op, _, t in writes if op == "put_manifest"]
    assert len(manifests) == CHILDREN + 2 and manifests[-2:] == ["v1", "stable"]  # one PUT per extra tag
    first, second = result.destinations
    assert first.blobs_copied == BLOBS and second.blobs_copied == 0 and second.blobs_skipped == BLOBS
    assert second.manifests_pushed == 1


def test_a_dry_run_writes_nothing_and_reports_the_plan(hub: MemoryRegistry, image: Digest) -> None:
    dst = MemoryRegistry("dst")
    result = copy(hub.storage("app"), "v1", [(dst.storage("x"), "v1")], dry_run=True)
    assert dst.writes() == []
    assert result.dry_run and result.destinations[0].blobs_missing == BLOBS


class Untold(MemoryStorage):
    """A repository that cannot say whether it holds anything (distribution's NAME_UNKNOWN)."""

    async def holds_anything(self) -> bool | None:
        return None


def test_an_untagged_repository_is_checked_before_anything_is_sent(
    hub: MemoryRegistry, image: Digest
) -> None:
    dst = MemoryRegistry("dst")
    dst.storage("x")._repo.blobs.update(hub.repositories["app"].blobs)  # an interrupted copy
    copy(hub.storage("app"), "v1", [(Untold(dst, "x"), "v1")])
    assert not [w for w in dst.writes() if w[0] == "put_blob"]


def test_an_empty_repository_is_probed_once_not_blob_by_blob(hub: MemoryRegistry, image: Digest) -> None:
    dst = MemoryRegistry("dst")
    copy(hub.storage("app"), "v1", [(Untold(dst, "x"), "v1")], dry_run=True)
    asked = [op for op, _, _ in dst.log]
    assert asked == ["resolve", "resolve", "has_blob"]  # the tag, the top by digest, the largest blob


def test_events_report_each_blob_and_the_tag_after_them(hub: MemoryRegistry, image: Digest) -> None:
    events: list[Event] = []
    dst = MemoryRegistry("dst")
    copy(hub.storage("app"), "v1", [(dst.storage("x"), "v1")], on_event=events.append)
    done = [e for e in events if isinstance(e, BlobDone)]
    tags = [i for i, e in enumerate(events) if isinstance(e, TagMoved)]
    assert len(done) == BLOBS and {e.how for e in done} == {"copied"}
    assert tags == [len(events) - 2]  # then only "verify" is entered
    assert all(events.index(e) < tags[0] for e in done)


def test_a_protected_tag_on_another_digest_stops_the_copy_before_any_write(
    hub: MemoryRegistry, image: Digest
) -> None:
    dst = MemoryRegistry("dst")
    old = add_index(dst, "prod/app", "v1", platforms=("amd64",))
    before = len(dst.writes())
    dests = [(dst.storage("fresh/app"), "v1"), (dst.storage("prod/app"), "v1")]
    with pytest.raises(ProtectedTagError) as caught:
        copy(hub.storage("app"), "v1", dests, protect=("v*",))
    assert (caught.value.tag, caught.value.current, caught.value.new) == ("v1", str(old), str(image))
    assert "platforms-differ" in {c.code for c in caught.value.causes}
    assert len(dst.writes()) == before
    assert dst.repositories["prod/app"].tags["v1"] == old
    copy(hub.storage("app"), "v1", dests, protect=("release-*",))
    assert dst.repositories["prod/app"].tags["v1"] == image
    before = len(dst.writes())
    again = copy(hub.storage("app"), "v1", dests, protect=("*",))  # the same digest: a no-op
    assert len(dst.writes()) == before and all(d.up_to_date for d in again.destinations)
    assert dst.repositories["prod/app"].tags["v1"] == image
