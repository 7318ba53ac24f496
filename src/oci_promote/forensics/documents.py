"""Causes read from one pair of manifests or indexes alone: media types, style, annotations, the rest.

Descriptor digests and sizes are left out here: they change whenever what they
point at changes, and that is explained where it is compared (configs, layers,
child manifests), not as an "other" difference of the document.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..causes import ANNOTATIONS_DIFFER, MEDIA_TYPE_CONVERTED, OTHER, RESERIALIZED, Cause
from .jsonstyle import differing_paths, same_content, shown_paths, style_differences
from .tree import Node, platform_text

#: Fields of a document compared elsewhere or by their own cause.
_EXPLAINED = frozenset({"mediaType", "annotations", "config", "layers", "blobs", "manifests"})
#: Fields of a descriptor that follow its content (compared elsewhere).
_CONTENT = frozenset({"digest", "size", "mediaType", "annotations"})
Pair = tuple[str, dict[str, Any], dict[str, Any]]


def document_causes(a: Node, b: Node, role: str, platform: str | None) -> list[Cause]:
    """Every cause the two documents show by themselves; `role` is "index" or "manifest"."""
    causes = []
    pairs = list(descriptor_pairs(a, b))
    converted = _converted_descriptors(pairs)
    if a.media_type != b.media_type or converted:
        detail = f"{role} media type {a.media_type} -> {b.media_type}"
        if converted:
            detail += f"; {converted} descriptor media type(s) converted too"
        causes.append(Cause(MEDIA_TYPE_CONVERTED, detail, platform, f"{role}.mediaType"))
    causes.extend(reserialization(a.manifest.raw, b.manifest.raw, role, platform))
    changes = [
        (path, text)
        for path, x, y in [("annotations", a.body, b.body), *pairs]
        if (text := annotation_changes(x.get("annotations"), y.get("annotations")))
    ]
    if changes:
        detail = "; ".join(f"{path}: {text}" for path, text in changes)
        causes.append(Cause(ANNOTATIONS_DIFFER, detail, platform, f"{role}.{changes[0][0]}"))
    paths = list(_other_paths(a.body, b.body, pairs))
    if paths:
        causes.append(
            Cause(OTHER, f"{role} fields differ: {shown_paths(paths)}", platform, f"{role}.{paths[0]}")
        )
    return causes


def reserialization(raw_a: bytes, raw_b: bytes, role: str, platform: str | None) -> list[Cause]:
    """`reserialized` when the bytes show another writer's style, or hold the same values."""
    style = style_differences(raw_a, raw_b)
    if style:
        return [Cause(RESERIALIZED, f"{role} written again: {', '.join(style)}", platform, role)]
    if same_content(raw_a, raw_b):
        detail = f"{role}: same JSON values, other bytes (number forms or duplicate keys)"
        return [Cause(RESERIALIZED, detail, platform, role)]
    return []


def annotation_changes(a: Any, b: Any) -> str | None:
    """Which annotation keys were added, removed or changed; None when none were."""
    a = a if isinstance(a, dict) else {}
    b = b if isinstance(b, dict) else {}
    added = sorted(b.keys() - a.keys())
    removed = sorted(a.keys() - b.keys())
    changed = sorted(k for k in a.keys() & b.keys() if a[k] != b[k])
    parts = [
        f"{label} {', '.join(keys)}"
        for label, keys in (("added", added), ("removed", removed), ("changed", changed))
        if keys
    ]
    return "; ".join(parts) or None


def descriptor_pairs(a: Node, b: Node) -> Iterator[Pair]:
    """Descriptors that correspond on both sides: config, layers/blobs by position, children by platform."""
    if isinstance(a.body.get("config"), dict) and isinstance(b.body.get("config"), dict):
        yield "config", a.body["config"], b.body["config"]
    for key in ("layers", "blobs"):
        xs, ys = a.body.get(key), b.body.get(key)
        if isinstance(xs, list) and isinstance(ys, list) and len(xs) == len(ys):
            for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
                if isinstance(x, dict) and isinstance(y, dict):
                    yield f"{key}[{i}]", x, y
    keyed_b = keyed_entries(b)
    for key, (i, x) in keyed_entries(a).items():
        if key in keyed_b:
            yield f"manifests[{i}]", x, keyed_b[key][1]


def keyed_entries(node: Node) -> dict[str, tuple[int, dict[str, Any]]]:
    """An index's children by platform (`unknown` without one; `#2`... for repeats)."""
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, entry in enumerate(node.entries()):
        base = platform_text(entry.get("platform")) or "unknown"
        key, n = base, 1
        while key in out:
            n += 1
            key = f"{base}#{n}"
        out[key] = (i, entry)
    return out


def _family(media_type: Any) -> str | None:
    if isinstance(media_type, str):
        if media_type.startswith("application/vnd.docker."):
            return "docker"
        if media_type.startswith("application/vnd.oci."):
            return "oci"
    return None


def _converted_descriptors(pairs: list[Pair]) -> int:
    return sum(
        1
        for _, x, y in pairs
        if _family(x.get("mediaType"))
        and _family(y.get("mediaType"))
        and _family(x.get("mediaType")) != _family(y.get("mediaType"))
    )


def _other_paths(body_a: dict[str, Any], body_b: dict[str, Any], pairs: list[Pair]) -> Iterator[str]:
    rest_a = {k: v for k, v in body_a.items() if k not in _EXPLAINED}
    rest_b = {k: v for k, v in body_b.items() if k not in _EXPLAINED}
    yield from differing_paths(rest_a, rest_b)
    for path, x, y in pairs:
        yield from differing_paths(
            {k: v for k, v in x.items() if k not in _CONTENT},
            {k: v for k, v in y.items() if k not in _CONTENT},
            path,
        )
