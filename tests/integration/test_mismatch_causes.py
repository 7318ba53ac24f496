"""Everywhere a digest does not match, the error names the causes; protected tags do not move.

The images are real registry content: one image, the same image written again
with other JSON (re-serialised), and a rebuild with another `created`, all in
one source repository, so the expected digest can be read beside the source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import oci_promote
from oci_promote.errors import DigestMismatchError, ProtectedTagError, UsageError
from testkit.proxy import Action, Forward, Proxy, RequestView, Respond
from testkit.registry import LogMark, RunningRegistry
from tests.integration.diff_tools import _tag, build_image, read_blob, redump
from tests.integration.test_cli import cli
from tests.integration.test_faults import tag_digest

WRITES = ("POST", "PUT", "PATCH", "DELETE")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class Images:
    """Three images in `registry`'s src/app: v1, its re-serialised copy `re`, and a rebuild `v2`."""

    layout: Path
    v1: str
    re: str
    v2: str


@pytest.fixture
def images(tmp_path: Path, registry: RunningRegistry) -> Images:
    layout = tmp_path / "layout"
    v1 = build_image(layout, created="2024-01-01T00:00:00Z", tag="v1")
    re = redump(layout, v1, OCI_MANIFEST, sort_keys=True, separators=(",", ":"))
    rebuilt = tmp_path / "rebuilt"
    v2 = build_image(rebuilt, created="2025-06-01T00:00:00Z", tag="v2")
    oci_promote.copy(f"oci:{layout}:v1", [registry.ref("src/app", "v1")])
    _tag(layout, re, "re")
    oci_promote.copy(f"oci:{layout}:re", [registry.ref("src/app", "re")])
    oci_promote.copy(f"oci:{rebuilt}:v2", [registry.ref("src/app", "v2")])
    return Images(layout, v1, str(re["digest"]), v2)


def _one_line(stderr: str) -> str:
    """The error: one line, the last on stderr (progress logs come before it), no traceback."""
    errors = [line for line in stderr.splitlines() if line.startswith("oci-promote: error: ")]
    assert len(errors) == 1 and stderr.strip().splitlines()[-1] == errors[0], stderr
    assert "Traceback" not in stderr
    return errors[0]


def _writes(registry: RunningRegistry, mark: LogMark) -> list[str]:
    return [f"{e.method} {e.path}" for e in registry.requests_since(mark) if e.method in WRITES]


# --expected-digest


def test_library_expected_digest_mismatch_names_and_carries_the_causes(
    images: Images, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    mark = registry2.mark()
    with pytest.raises(DigestMismatchError) as caught:
        oci_promote.copy(
            registry.ref("src/app", "re"), [registry2.ref("dest/app", "v1")], expected_digest=images.v1
        )
    error = caught.value
    message = str(error)
    assert "\n" not in message
    assert images.v1 in message and images.re in message and "nothing was copied" in message
    assert "A = the expected image, B = the source" in message and "(reserialized)" in message
    assert error.comparison is not None
    assert {c.code for c in error.causes} == {"reserialized"}
    assert (error.comparison.a.digest, error.comparison.b.digest) == (images.v1, images.re)
    assert _writes(registry2, mark) == []


def test_cli_expected_digest_of_a_rebuild_names_config_differ(
    images: Images, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    mark = registry2.mark()
    result = cli(
        "copy", "--expected-digest", images.v1, registry.ref("src/app", "v2"), registry2.ref("dest/app", "v1")
    )
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert images.v1 in line and images.v2 in line
    assert "(config-differ)" in line and "rebuilt" in line
    assert result.stdout == ""
    assert _writes(registry2, mark) == []


def test_expected_digest_that_cannot_be_read_says_so_in_one_line(
    images: Images, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    wrong = "sha256:" + "0" * 64
    result = cli(
        "copy", "--expected-digest", wrong, registry.ref("src/app", "v1"), registry2.ref("dest/app", "v1")
    )
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert f"{wrong} cannot be read there, so the causes cannot be told" in line


def test_expected_from_reads_the_expected_image_elsewhere(
    images: Images, registry: RunningRegistry, registry2: RunningRegistry, tmp_path: Path
) -> None:
    """The expected image is only in a staging repository: without --expected-from, no causes."""
    oci_promote.copy(registry.ref("src/app", "v1"), [registry2.ref("staging/app", "tested")])
    oci_promote.copy(registry.ref("src/app", "re"), [registry.ref("other/app", "re")])
    source = registry.ref("other/app", "re")
    dest = registry2.ref("dest/app", "v1")
    blind = cli("copy", "--expected-digest", images.v1, source, dest)
    assert blind.returncode == 1 and "cannot be read there" in _one_line(blind.stderr)
    told = cli(
        "copy",
        "--expected-digest",
        images.v1,
        "--expected-from",
        f"{registry2.host}/staging/app",
        source,
        dest,
    )
    assert told.returncode == 1
    assert "(reserialized)" in _one_line(told.stderr)
    with pytest.raises(DigestMismatchError) as caught:
        oci_promote.copy(
            source, [dest], expected_digest=images.v1, expected_from=f"{registry2.host}/staging/app:tested"
        )
    assert {c.code for c in caught.value.causes} == {"reserialized"}
    assert tag_digest(registry2, "dest/app", "v1") is None


def test_expected_from_without_an_expected_digest_is_a_usage_error(registry: RunningRegistry) -> None:
    result = cli("copy", "--expected-from", registry.ref("a/b", "c"), registry.ref("a/b", "c"), "oci:/tmp/x")
    assert result.returncode == 2
    assert "--expected-from needs --expected-digest" in _one_line(result.stderr)
    with pytest.raises(UsageError):
        oci_promote.copy(
            registry.ref("a/b", "c"),
            [registry.ref("a/d", "c")],
            expected_digest="sha256:" + "1" * 64,
            expected_from=f"{registry.host}/a/b@sha256:{'2' * 64}",
        )


# after the push


@pytest.fixture
def dst_proxy(registry2: RunningRegistry) -> Iterator[Proxy]:
    with Proxy(registry2.url) as proxy:
        yield proxy


def test_destination_serving_another_image_after_the_push_names_the_causes(
    images: Images, registry: RunningRegistry, registry2: RunningRegistry, dst_proxy: Proxy
) -> None:
    """The destination answers for the tag with the re-serialised image (pushed there by digest)."""
    oci_promote.copy(registry.ref("src/app", "re"), [f"{registry2.host}/victim/app@{images.re}"])
    size = len(read_blob(images.layout, images.re))

    def other_image(request: RequestView) -> Action:
        if request.method == "HEAD" and request.path.endswith("/victim/app/manifests/v1"):
            headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": images.re}
            return Respond(200, headers | {"Content-Length": str(size)})
        return Forward()

    dst_proxy.set_handler(other_image)
    with pytest.raises(DigestMismatchError) as caught:
        oci_promote.copy(registry.ref("src/app", "v1"), [f"{dst_proxy.host}/victim/app:v1"])
    message = str(caught.value)
    assert "\n" not in message
    assert f"resolves to {images.re} after the push, but the source is {images.v1}" in message
    assert "A = the source, B = what the destination serves" in message and "(reserialized)" in message
    assert {c.code for c in caught.value.causes} == {"reserialized"}


# --protect


def _seed_protected(images: Images, registry: RunningRegistry, registry2: RunningRegistry) -> None:
    oci_promote.copy(registry.ref("src/app", "v1"), [registry2.ref("prot/app", "v1")])


def test_protected_tag_holding_another_digest_fails_before_any_write(
    images: Images, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    _seed_protected(images, registry, registry2)
    marks = registry.mark(), registry2.mark()
    result = cli(
        "copy",
        "--protect",
        "release-*",
        "--protect",
        "v*",
        registry.ref("src/app", "v2"),
        registry.ref("second/app", "v1"),
        registry2.ref("prot/app", "v1"),
    )
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert "tag v1 is protected" in line and images.v1 in line and images.v2 in line
    assert "nothing was written anywhere" in line and "(config-differ)" in line
    assert _writes(registry, marks[0]) == [] and _writes(registry2, marks[1]) == []
    assert tag_digest(registry2, "prot/app", "v1") == images.v1
    assert tag_digest(registry, "second/app", "v1") is None


def test_protected_tag_from_the_environment_and_the_library(
    images: Images, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    _seed_protected(images, registry, registry2)
    mark = registry2.mark()
    result = cli(
        "copy",
        registry.ref("src/app", "re"),
        registry2.ref("prot/app", "v1"),
        env={"OCI_PROMOTE_PROTECT": "main,\nv1"},
    )
    assert result.returncode == 1 and "(reserialized)" in _one_line(result.stderr)
    with pytest.raises(ProtectedTagError) as caught:
        oci_promote.copy(registry.ref("src/app", "re"), [registry2.ref("prot/app", "v1")], protect=["*"])
    error = caught.value
    assert (error.tag, error.current, error.new) == ("v1", images.v1, images.re)
    assert {c.code for c in error.causes} == {"reserialized"}
    assert _writes(registry2, mark) == []


def test_protected_tag_already_holding_the_digest_is_a_no_op(
    images: Images, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    _seed_protected(images, registry, registry2)
    mark = registry2.mark()
    result = cli("copy", "--protect", "*", registry.ref("src/app", "v1"), registry2.ref("prot/app", "v1"))
    assert result.returncode == 0, result.stderr
    assert _writes(registry2, mark) == []
    assert tag_digest(registry2, "prot/app", "v1") == images.v1


def test_unprotected_tags_move_as_before(
    images: Images, registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    _seed_protected(images, registry, registry2)
    result = cli(
        "copy", "--protect", "release-*", registry.ref("src/app", "v2"), registry2.ref("prot/app", "v1")
    )
    assert result.returncode == 0, result.stderr
    assert tag_digest(registry2, "prot/app", "v1") == images.v2


def test_a_new_protected_tag_is_created(images: Images, registry: RunningRegistry) -> None:
    result = cli("copy", "--protect", "*", registry.ref("src/app", "v2"), registry.ref("fresh/app", "v9"))
    assert result.returncode == 0, result.stderr
    assert tag_digest(registry, "fresh/app", "v9") == images.v2
