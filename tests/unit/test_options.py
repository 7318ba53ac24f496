"""Library options: parsed once into typed values; every bad value is our UsageError."""

from __future__ import annotations

import pytest

from oci_promote.errors import InvalidReferenceError, UsageError
from oci_promote.events import BlobDone, BlobProgress, DestinationPlanned, PhaseEntered
from oci_promote.frontend.present import Progress
from oci_promote.options import ConnectOptions, CopyOptions, copy_options
from oci_promote.types.location import LayoutReference


def test_destinations_take_the_source_tag_and_keep_their_order() -> None:
    options = copy_options("reg.example/a/b:1.2", ["r2.example/x", "oci:/tmp/out", "r2.example/x:1.2"])
    assert [d.tag for d in options.destinations] == ["1.2", "1.2"]  # the third repeats the first
    assert isinstance(options.destinations[1], LayoutReference)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"jobs": 0}, "jobs must be at least 1"),
        ({"jobs": 65}, "at most 64"),
        ({"jobs": True}, "jobs must be an integer"),
        ({"dry_run": 1}, "dry_run must be True or False"),
        ({"expected_digest": 7}, "expected_digest"),
        ({"src_creds": 42}, "source credentials"),
    ],
)
def test_bad_values_are_usage_errors(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        copy_options("reg.example/a:1", ["reg.example/b"], **kwargs)  # type: ignore[arg-type]


def test_connect_options_check_their_values() -> None:
    with pytest.raises(UsageError, match="timeout must be above 0"):
        ConnectOptions(timeout=0)
    with pytest.raises(UsageError, match="not a registry HOST"):
        ConnectOptions(insecure_registries=("host/with/path",))
    assert ConnectOptions(insecure_registries=("LOCALHOST:05000",)).insecure_registries == ("localhost:5000",)


def test_a_string_is_not_a_list_of_destinations() -> None:
    with pytest.raises(UsageError, match="destinations must be a list"):
        copy_options("reg.example/a:1", "reg.example/b")
    with pytest.raises(InvalidReferenceError):
        copy_options("reg.example/a:1", ["Bad/Upper"])
    with pytest.raises(UsageError, match="no destination"):
        CopyOptions(source=copy_options("reg.example/a:1", ["r/b"]).source, destinations=())


def test_progress_is_counted_from_events() -> None:
    progress = Progress()
    progress(PhaseEntered("copy", ("r/a:1",)))
    progress(DestinationPlanned("r/a:1", "r/a@x", False, 2, 3_000_000, 0))
    progress(BlobProgress("r/a:1", "sha256:1", 500_000, 2_000_000))
    assert progress.line(4) == "copying: 0 of 2 blobs, 500.0 KB of 3.0 MB (16%), 4 s"
    progress(BlobDone("r/a:1", "sha256:1", 2_000_000, "copied"))
    progress(BlobDone("r/a:1", "sha256:2", 1_000_000, "mounted"))
    assert progress.bytes_in_flight == 0
    assert progress.line(5) == "copying: 2 of 2 blobs, 2.0 MB of 3.0 MB (66%), 5 s"
