"""The read-once blob fan-out (issue 9): one source read feeds every destination that copies a blob.

The tee itself on plain async streams (memory bound, leaving, failing and retrying
readers, a source that does not match), then the engine on the in-memory storage
(source reads, the source read overlapping the upload's start, progress, no deadlock).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest

from oci_promote.engine.copy import Endpoint, Source, run_copy
from oci_promote.engine.fanout import Consumer, fan_out
from oci_promote.errors import DigestMismatchError, PromoteError, RegistryError
from oci_promote.events import BlobDone, BlobProgress, BlobStarted, Event
from oci_promote.result import CopyResult
from oci_promote.storage import BodyFactory
from oci_promote.storage.memory import MemoryRegistry, MemoryStorage
from oci_promote.storage.verified import verified_blob
from oci_promote.types.digest import compute
from oci_promote.types.media import Descriptor
from tests.unit.memory_images import LAYER, add_index, blob_count

CHUNK = 1024
CHUNKS = 64
DATA = bytes(range(256)) * (CHUNK * CHUNKS // 256)


class CountingSource:
    """A source stream in CHUNK pieces that counts how far it has been read, and how often opened."""

    def __init__(self, data: bytes = DATA) -> None:
        self.data = data
        self.read = 0
        self.opened = 0

    def open(self) -> AsyncIterator[bytes]:
        self.opened += 1
        return self._stream()

    async def _stream(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), CHUNK):
            self.read += 1
            yield self.data[start : start + CHUNK]


async def drain(body: BodyFactory) -> bytes:
    return b"".join([chunk async for chunk in body()])


def consumer(upload: Callable[[BodyFactory], Any], source: CountingSource) -> Consumer:
    return Consumer(upload, source.open, lambda sent: None)


def run(coroutine: Callable[[], Any]) -> Any:
    async def bounded() -> Any:
        with anyio.fail_after(10):  # a fan-out that deadlocks fails here instead of hanging
            return await coroutine()

    return anyio.run(bounded)


def test_every_reader_gets_every_byte_from_one_source_read() -> None:
    source = CountingSource()
    got: list[bytes] = []

    async def upload(body: BodyFactory) -> None:
        got.append(await drain(body))

    run(lambda: fan_out(source.open, [consumer(upload, source)] * 3))
    assert got == [DATA] * 3 and source.opened == 1 and source.read == CHUNKS


def test_a_slow_reader_holds_the_producer_back_instead_of_buffering_the_blob() -> None:
    source = CountingSource()
    release = anyio.Event()
    got: list[bytes] = []
    behind: list[int] = []

    async def fast(body: BodyFactory) -> None:
        got.append(await drain(body))

    async def slow(body: BodyFactory) -> None:
        await release.wait()
        got.append(await drain(body))

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(
                lambda: fan_out(source.open, [consumer(fast, source), consumer(slow, source)], buffer=2)
            )
            await anyio.wait_all_tasks_blocked()
            behind.append(source.read)
            release.set()

    run(scenario)
    # the slow reader's buffer (2 chunks), the chunk being handed over, and no more
    assert behind == [3]
    assert got == [DATA, DATA] and source.opened == 1


def test_a_reader_that_never_reads_does_not_block_the_others() -> None:
    source = CountingSource()
    got: list[bytes] = []

    async def already_there(body: BodyFactory) -> None:
        await anyio.sleep(0.01)  # a mount or a HEAD that says "there already"

    async def upload(body: BodyFactory) -> None:
        got.append(await drain(body))

    run(lambda: fan_out(source.open, [consumer(already_there, source), consumer(upload, source)], buffer=1))
    assert got == [DATA] and source.opened == 1


def test_when_every_reader_left_the_source_is_read_no_further() -> None:
    source = CountingSource()

    async def mounted(body: BodyFactory) -> None:
        pass

    run(lambda: fan_out(source.open, [consumer(mounted, source)] * 2, buffer=1))
    assert source.read <= 1


def test_a_failing_reader_stops_the_fan_out_and_the_others_never_get_wrong_bytes() -> None:
    source = CountingSource()
    seen: list[bytes] = []
    finished: list[bool] = []

    async def failing(body: BodyFactory) -> None:
        async for _ in body():
            raise RegistryError("dst answered HTTP 500", registry="dst", status=500)

    async def healthy(body: BodyFactory) -> None:
        async for chunk in body():
            seen.append(chunk)
        finished.append(True)

    with pytest.raises(RegistryError, match="HTTP 500"):
        run(lambda: fan_out(source.open, [consumer(failing, source), consumer(healthy, source)]))
    assert DATA.startswith(b"".join(seen)) and finished == []  # a prefix, then cancelled


def test_a_retried_upload_reads_the_source_again_and_the_others_are_not_disturbed() -> None:
    source = CountingSource()
    got: dict[str, bytes] = {}

    async def retrying(body: BodyFactory) -> None:
        first = body()
        for _ in range(3):
            await first.__anext__()  # the first attempt breaks off after 3 chunks
        got["retrying"] = await drain(body)
        with pytest.raises(PromoteError, match="abandoned"):
            async for _ in first:  # the abandoned stream never ends as if it were whole
                pass

    async def steady(body: BodyFactory) -> None:
        got["steady"] = await drain(body)

    run(lambda: fan_out(source.open, [consumer(retrying, source), consumer(steady, source)], buffer=1))
    assert got == {"retrying": DATA, "steady": DATA}
    assert source.opened == 2  # the shared read, and the retry's own


@pytest.mark.parametrize("readers", [1, 2])
def test_a_retried_upload_of_a_small_blob_replays_it_without_reading_the_source_again(readers: int) -> None:
    """Even when the retrying upload was the only reader (every reader left for a moment)."""
    source = CountingSource()
    got: list[bytes] = []

    async def retrying(body: BodyFactory) -> None:
        first = body()
        for _ in range(3):
            await first.__anext__()  # the first attempt breaks off after 3 chunks
        await first.aclose()  # as the uploader lets go of a broken attempt's body
        got.append(await drain(body))

    async def steady(body: BodyFactory) -> None:
        got.append(await drain(body))

    consumers = [consumer(retrying, source), consumer(steady, source)][:readers]
    run(lambda: fan_out(source.open, consumers, buffer=1, size=len(DATA)))
    assert got == [DATA] * readers
    assert source.opened == 1  # the shared read only


def test_a_source_that_does_not_match_raises_in_every_reader_and_ends_none() -> None:
    hub = MemoryRegistry("src")
    tampered = DATA[:-1] + b"!"
    descriptor = Descriptor(LAYER, compute(DATA), len(DATA))
    hub.storage("app")._repo.blobs[descriptor.digest] = tampered
    errors: list[BaseException] = []
    ended: list[bool] = []

    async def upload(body: BodyFactory) -> None:
        try:
            async for _ in body():
                pass
            ended.append(True)
        except PromoteError as e:
            errors.append(e)

    def open_source() -> AsyncIterator[bytes]:
        return verified_blob(hub.storage("app"), descriptor, lambda sent: None)

    run(lambda: fan_out(open_source, [Consumer(upload, open_source, lambda sent: None)] * 3))
    assert ended == [] and len(errors) == 3 and all(isinstance(e, DigestMismatchError) for e in errors)


# -- the engine ----------------------------------------------------------------------------------


@pytest.fixture
def hub() -> MemoryRegistry:
    registry = MemoryRegistry("src")
    add_index(registry, "app", "v1")
    return registry


def dests(*names: str) -> list[tuple[MemoryStorage, str | None]]:
    return [(MemoryRegistry(name).storage("app"), "v1") for name in names]


def copy(
    source: MemoryStorage, tag: str, targets: list[tuple[MemoryStorage, str | None]], **kwargs: Any
) -> CopyResult:
    endpoints = [Endpoint(s.description, t, None, s) for s, t in targets]
    where = Source(source, tag, None, f"{source.description}:{tag}")
    result: CopyResult = run(lambda: run_copy(where, endpoints, **kwargs))
    return result


def source_reads(hub: MemoryRegistry) -> int:
    return sum(op == "open_blob" for op, _, _ in hub.log)


def test_three_registries_read_each_source_blob_once(hub: MemoryRegistry) -> None:
    targets = dests("a", "b", "c")
    result = copy(hub.storage("app"), "v1", targets)
    assert source_reads(hub) == blob_count()
    for (storage, _), d in zip(targets, result.destinations, strict=True):
        assert storage._repo.blobs == hub.repositories["app"].blobs and d.blobs_copied == blob_count()


def test_one_place_of_the_limiter_feeds_every_destination(hub: MemoryRegistry) -> None:
    """With one job at a time the fan-out must neither deadlock nor starve a destination: each
    ends with the source's tag on the source's digest and every blob, read once."""
    targets = dests("a", "b", "c")
    result = copy(hub.storage("app"), "v1", targets, jobs=1)
    source = hub.repositories["app"]
    assert source_reads(hub) == blob_count()
    for storage, _ in targets:
        assert storage._repo.tags == {"v1": source.tags["v1"]} and str(source.tags["v1"]) == result.digest
        assert storage._repo.blobs == source.blobs and storage._repo.manifests == source.manifests


class SlowToOpen(MemoryStorage):
    """Opening an upload session takes a round trip; notes whether the source was read meanwhile."""

    def __init__(self, registry: MemoryRegistry, repository: str, source: MemoryRegistry) -> None:
        super().__init__(registry, repository)
        self.source = source
        self.read_meanwhile: list[bool] = []

    async def put_blob(self, descriptor: Descriptor, body: BodyFactory, *, mount_from: Any = None) -> Any:
        await anyio.sleep(0.02)  # the POST
        self.read_meanwhile.append(source_reads(self.source) > 0)
        return await super().put_blob(descriptor, body, mount_from=mount_from)


def test_the_source_read_starts_while_the_upload_session_opens(hub: MemoryRegistry) -> None:
    dest = SlowToOpen(MemoryRegistry("dst"), "app", hub)
    copy(hub.storage("app"), "v1", [(dest, "v1")], jobs=1)
    assert dest.read_meanwhile[0] is True


def test_progress_is_reported_per_destination(hub: MemoryRegistry) -> None:
    events: list[Event] = []
    copy(hub.storage("app"), "v1", dests("a", "b"), on_event=events.append)
    blobs = hub.repositories["app"].blobs
    for label in ("a/app:v1", "b/app:v1"):
        mine = [e for e in events if getattr(e, "destination", None) == label]
        for digest, data in blobs.items():
            of_blob = [e for e in mine if getattr(e, "digest", None) == str(digest)]
            assert isinstance(of_blob[0], BlobStarted) and isinstance(of_blob[-1], BlobDone)
            sent = [e.sent for e in of_blob if isinstance(e, BlobProgress)]
            assert sent[0] == 0 and sent[-1] == len(data) and sent == sorted(sent)


def test_a_destination_failing_mid_blob_leaves_no_tag_and_no_wrong_blob_anywhere(hub: MemoryRegistry) -> None:
    targets = dests("a", "b", "c")
    largest = max(hub.repositories["app"].blobs.items(), key=lambda item: len(item[1]))[0]

    class Breaks(MemoryStorage):
        async def put_blob(self, descriptor: Descriptor, body: BodyFactory, *, mount_from: Any = None) -> Any:
            if descriptor.digest == largest:
                async for _ in body():
                    raise RegistryError("b answered HTTP 500", registry="b", status=500)
            return await super().put_blob(descriptor, body, mount_from=mount_from)

    broken = targets[1][0]
    targets[1] = (Breaks(broken.registry, "app"), "v1")
    with pytest.raises(RegistryError) as caught:
        copy(hub.storage("app"), "v1", targets)
    assert str(caught.value).startswith("destination b/app:v1: ") and "no tag was moved" in str(caught.value)
    for storage, _ in targets:
        assert storage._repo.tags == {}
        assert all(compute(data) == digest for digest, data in storage._repo.blobs.items())


def test_a_mismatching_source_blob_fails_every_destination_before_any_commits(hub: MemoryRegistry) -> None:
    repo = hub.repositories["app"]
    victim, data = max(repo.blobs.items(), key=lambda item: len(item[1]))
    repo.blobs[victim] = data[:-1] + b"!"
    targets = dests("a", "b", "c")
    with pytest.raises(DigestMismatchError):
        copy(hub.storage("app"), "v1", targets)
    for storage, _ in targets:
        assert victim not in storage._repo.blobs and storage._repo.tags == {}
