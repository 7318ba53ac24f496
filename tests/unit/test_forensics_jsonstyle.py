"""The pure JSON-difference classification, on hand-made documents."""

from __future__ import annotations

import gzip
import json
import zlib

from oci_promote.forensics.compression import compression_of_media_type, describe_compression
from oci_promote.forensics.jsonstyle import differing_paths, same_content, style_differences, style_of

DOC = {"schemaVersion": 2, "config": {"mediaType": "m", "digest": "d", "size": 1}, "layers": [1, 2]}


def test_same_bytes_show_no_style_difference() -> None:
    raw = json.dumps(DOC, indent=2).encode()
    assert style_differences(raw, raw) == []


def test_indentation() -> None:
    found = style_differences(json.dumps(DOC, indent=2).encode(), json.dumps(DOC, indent="\t").encode())
    assert found == ["indentation (2 spaces -> 1 tab)"]
    assert style_of(json.dumps(DOC).encode()).indent == "none"


def test_key_order_names_the_first_object_that_moved() -> None:
    moved = {"schemaVersion": 2, "config": {"digest": "d", "mediaType": "m", "size": 1}, "layers": [1, 2]}
    found = style_differences(json.dumps(DOC).encode(), json.dumps(moved).encode())
    assert found == ["key order ($.config: mediaType,digest,size -> digest,mediaType,size)"]


def test_spacing_of_colons_and_commas() -> None:
    found = style_differences(json.dumps(DOC).encode(), json.dumps(DOC, separators=(",", ":")).encode())
    assert found == ['spacing (": " -> ":", ", " -> ",")']


def test_indented_documents_compare_colons_but_not_line_breaks() -> None:
    a = json.dumps(DOC, indent=2).encode()
    b = json.dumps(DOC, indent=2, separators=(",", ":")).encode()
    assert style_differences(a, b) == ['spacing (": " -> ":")']


def test_escapes_of_non_ascii_and_html_characters() -> None:
    doc = {"note": "<café & co>"}
    python = json.dumps(doc).encode()  # \u00e9, literal <>&
    go = json.dumps(doc, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").encode()
    assert style_differences(python, go) == ["escapes (< -> \\u003c, > -> \\u003e, \\u00e9 -> é)"]


def test_mandatory_escapes_tell_nothing() -> None:
    doc = {"note": 'say "hi"\n'}
    assert style_differences(json.dumps(doc).encode(), json.dumps(doc, ensure_ascii=False).encode()) == []


def test_trailing_newline() -> None:
    raw = json.dumps(DOC).encode()
    assert style_differences(raw, raw + b"\n") == ["trailing newline (added)"]
    assert style_differences(raw + b"\n", raw) == ["trailing newline (removed)"]


def test_strings_that_look_like_json_do_not_fool_the_style() -> None:
    a = json.dumps({"a": "x: y, z", "b": 1}, separators=(",", ":")).encode()
    b = json.dumps({"a": "x:y,z", "b": 1}, separators=(",", ":")).encode()
    assert style_differences(a, b) == []


def test_several_aspects_at_once() -> None:
    a = json.dumps(DOC, indent=2).encode()
    b = json.dumps(DOC, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    found = style_differences(a, b)
    assert [f.split(" (")[0] for f in found] == ["indentation", "key order", "spacing", "trailing newline"]


def test_same_content_is_strict_about_types() -> None:
    assert same_content(b'{"a": 1, "b": [true]}', b'{"b":[true],"a":1}')
    assert not same_content(b'{"a": 1}', b'{"a": 1.0}')
    assert not same_content(b'{"a": 1}', b'{"a": true}')
    assert not same_content(b"not json", b"not json")


def test_differing_paths() -> None:
    a = {"a": 1, "b": {"c": [1, 2], "d": "x"}, "gone": 0}
    b = {"a": 1, "b": {"c": [1, 3], "d": "y"}, "new": 0}
    assert list(differing_paths(a, b)) == ["b.c[1]", "b.d", "gone", "new"]
    assert list(differing_paths({"l": [1]}, {"l": [1, 2]})) == ["l"]


def test_gzip_level_and_writer_from_the_header() -> None:
    fastest = zlib.compressobj(1, zlib.DEFLATED, 31)
    assert (
        describe_compression(fastest.compress(b"x" * 100) + fastest.flush())
        == "gzip, fastest (level 1), Unix"
    )
    assert describe_compression(gzip.compress(b"x", compresslevel=9)).startswith(
        "gzip, best compression (level 9)"
    )
    go_default = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    assert describe_compression(go_default) == "gzip, default or another level, unknown OS, as Go writes"


def test_zstd_tar_and_unknown() -> None:
    assert describe_compression(b"\x28\xb5\x2f\xfd\x00") == "zstd"
    tar = bytes(257) + b"ustar" + bytes(250)
    assert describe_compression(tar) == "uncompressed tar"
    assert describe_compression(b"PK\x03\x04") == "unknown compression"


def test_compression_declared_by_media_types() -> None:
    assert compression_of_media_type("application/vnd.oci.image.layer.v1.tar+zstd") == "zstd"
    assert compression_of_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip") == "gzip"
    assert compression_of_media_type("application/vnd.oci.image.layer.v1.tar") == "uncompressed tar"
    assert compression_of_media_type("application/octet-stream") is None
