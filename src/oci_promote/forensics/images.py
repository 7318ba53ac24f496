"""Causes between two single-platform images: their manifests, configs and layers.

Layers are told apart by their uncompressed content, the config's
`rootfs.diff_ids`: equal ids under other blob digests mean the same files
compressed again; other ids mean other files. Only then are the first bytes
of the layers read, to name the compression on both sides.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from ..causes import CONFIG_DIFFER, LAYERS_DIFFER, LAYERS_RECOMPRESSED, Cause
from ..concurrency import both, gather
from ..errors import PromoteError
from ..types.media import Descriptor
from .compression import compression_of_media_type, describe_compression
from .documents import document_causes, reserialization
from .jsonstyle import differing_paths, same_content
from .tree import Config, Node, Tree

#: Layers whose first bytes are read to name their compression, at most (per side).
MAX_SNIFFED_LAYERS = 8
_INDEX = re.compile(r"\[\d+\]")


async def compare_images(a: Tree, na: Node, b: Tree, nb: Node, platform: str | None) -> list[Cause]:
    """Every cause between two image manifests (`platform` names them in an index)."""
    causes = document_causes(na, nb, "manifest", platform)
    desc_a, desc_b = na.config_descriptor(), nb.config_descriptor()
    config_changed = desc_a is not None and desc_b is not None and desc_a.digest != desc_b.digest
    layers_changed = [d.digest for d in na.layers()] != [d.digest for d in nb.layers()]
    if not (config_changed or layers_changed):
        return causes
    ca, cb = await both(partial(a.config, na), partial(b.config, nb))
    if config_changed and ca is not None and cb is not None:
        causes.extend(config_causes(ca, cb, platform))
    if layers_changed:
        causes.extend(await layer_causes(a, na, ca, b, nb, cb, platform))
    return causes


def config_causes(ca: Config, cb: Config, platform: str | None) -> list[Cause]:
    """Causes between two config blobs with different digests."""
    if ca.body is None or cb.body is None:
        return [
            Cause(
                CONFIG_DIFFER,
                "config blobs differ (not image configs: compared by digest)",
                platform,
                "config",
            )
        ]
    causes = reserialization(ca.raw, cb.raw, "config", platform)
    if same_content(ca.raw, cb.raw):
        return causes
    fields = changed_config_fields(ca.body, cb.body)
    if fields:
        detail = "config fields differ: " + ", ".join(fields)
        causes.append(Cause(CONFIG_DIFFER, detail, platform, "config"))
    return causes


def changed_config_fields(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Names of the changed config fields; `rootfs.diff_ids` is left to the layer causes.

    `created` shows both values; labels and environment variables show their names.
    """
    names: dict[str, None] = {}
    for path in differing_paths(a, b):
        if path.startswith("rootfs.diff_ids") or path == "rootfs":
            continue
        if path == "created":
            names[f"created ({a.get('created', 'absent')} -> {b.get('created', 'absent')})"] = None
        elif path.startswith("config.Labels"):
            names[f"label {path[len('config.Labels.') :] or '(all)'}"] = None
        elif path.startswith("config.Env"):
            names[f"env {_env_names(a, b)}"] = None
        else:
            field = _INDEX.split(path)[0] or path
            names[field + _presence(a, b, field)] = None
    return list(names)


def _presence(a: dict[str, Any], b: dict[str, Any], path: str) -> str:
    """Say "added" or "removed" when a top-level field exists on one side only."""
    if "." in path:
        return ""
    return " (added)" if path not in a else " (removed)" if path not in b else ""


def _env_names(a: dict[str, Any], b: dict[str, Any]) -> str:
    def env(body: dict[str, Any]) -> set[str]:
        values = (body.get("config") or {}).get("Env") or []
        return {str(v) for v in values}

    changed = env(a) ^ env(b)
    return ", ".join(sorted({v.partition("=")[0] for v in changed})) or "(order)"


async def layer_causes(
    a: Tree, na: Node, ca: Config | None, b: Tree, nb: Node, cb: Config | None, platform: str | None
) -> list[Cause]:
    """`layers-recompressed` when the uncompressed content is equal, else `layers-differ`."""
    la, lb = na.layers(), nb.layers()
    ids_a = ca.diff_ids() if ca else None
    ids_b = cb.diff_ids() if cb else None
    if ids_a is not None and ids_a == ids_b and len(la) == len(lb) == len(ids_a):
        changed = [i for i in range(len(la)) if la[i].digest != lb[i].digest]
        shown = changed[:MAX_SNIFFED_LAYERS]
        hints = await gather(
            [
                *(partial(_compression, a, la[i]) for i in shown),
                *(partial(_compression, b, lb[i]) for i in shown),
            ]
        )
        parts = [
            f"layer {i} {la[i].digest.short} ({hints[n]}) -> {lb[i].digest.short} ({hints[n + len(shown)]})"
            for n, i in enumerate(shown)
        ]
        more = f"; and {len(changed) - len(shown)} more" if len(changed) > len(shown) else ""
        detail = (
            f"{len(changed)} of {len(la)} layer(s) hold the same content (config diff_ids equal) "
            f"in other compressed blobs: {'; '.join(parts)}{more}"
        )
        return [Cause(LAYERS_RECOMPRESSED, detail, platform, "manifest.layers")]
    if ids_a is not None and ids_b is not None:
        summary = _count_changes(ids_a, ids_b, "uncompressed content (diff_ids)")
    else:
        summary = _count_changes([str(d.digest) for d in la], [str(d.digest) for d in lb], "blob digests")
    return [Cause(LAYERS_DIFFER, summary, platform, "manifest.layers")]


def _count_changes(xs: list[str], ys: list[str], by: str) -> str:
    common = min(len(xs), len(ys))
    same = sum(1 for i in range(common) if xs[i] == ys[i])
    parts = [f"{same} same", f"{common - same} changed"]
    if len(ys) > len(xs):
        parts.append(f"{len(ys) - len(xs)} added")
    if len(xs) > len(ys):
        parts.append(f"{len(xs) - len(ys)} removed")
    return f"A has {len(xs)} layer(s), B has {len(ys)}; by {by}: {', '.join(parts)}"


async def _compression(tree: Tree, layer: Descriptor) -> str:
    """The compression seen in the layer's first bytes, else the one its media type declares."""
    declared = compression_of_media_type(layer.media_type) or layer.media_type
    if layer.is_foreign:
        return declared
    try:
        return describe_compression(await tree.compression_hint(layer))
    except PromoteError:  # unreadable here: the media type is the evidence left
        return declared
