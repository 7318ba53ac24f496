"""The human answer: one headline that says what B is relative to A, then the evidence.

Pure functions of a Comparison, so the CLI, the Action's annotations and job
summary, and error messages all say the same thing.
"""

from __future__ import annotations

from ..causes import (
    ANNOTATIONS_DIFFER,
    CODES,
    CONFIG_DIFFER,
    INDEX_WRAPPED,
    LAYERS_DIFFER,
    LAYERS_RECOMPRESSED,
    MEDIA_TYPE_CONVERTED,
    OTHER,
    PLATFORM_EXTRACTED,
    PLATFORMS_DIFFER,
    RESERIALIZED,
    Cause,
    Comparison,
)

_PHRASES = {
    RESERIALIZED: "written again with other JSON",
    MEDIA_TYPE_CONVERTED: "converted to {types} media types",
    PLATFORMS_DIFFER: "with another set of platforms",
    LAYERS_RECOMPRESSED: "with its layers compressed again",
    LAYERS_DIFFER: "with other layer content",
    CONFIG_DIFFER: "with another config",
    ANNOTATIONS_DIFFER: "with other annotations",
    OTHER: "with other manifest fields",
}
_KEEP = "copy with oci-promote to keep A's digest."
_ENGINE = f"a pull + push through a container engine does this; {_KEEP}"
_RECOMPRESS = (
    f"a pull + push that compresses layers again (container engines, --layer-compress) does this; {_KEEP}"
)
_EDIT = f"a tool edited the manifest (crane mutate, regctl image mod, crane index append); {_KEEP}"
_REBUILT = "B was rebuilt or modified: these are different images; deploy the digest you tested."


def headline(comparison: Comparison) -> str:
    """One sentence that leads with the answer, names the codes and says what to do."""
    if comparison.identical:
        return f"A and B are the same image ({comparison.a.digest})."
    codes = [code for code in CODES if code in comparison.codes]
    if not codes:
        return "A and B differ, and no cause was found."
    lead = _lead(comparison)
    phrases = [_phrase(code, comparison) for code in _PHRASES if code in codes]
    text = lead + (", " + _join(phrases) if phrases else "")
    # the codes in the order the sentence tells them: what was done to B, then what B is
    told = [code for code in _PHRASES if code in codes] + [code for code in codes if code not in _PHRASES]
    return f"{text} ({', '.join(told)}): {_advice(set(codes))}"


def _lead(comparison: Comparison) -> str:
    extracted = _first(comparison, PLATFORM_EXTRACTED)
    if extracted is not None:
        return f"B is the {extracted.platform or 'only'} image of A's index"
    wrapped = _first(comparison, INDEX_WRAPPED)
    if wrapped is not None:
        return f"B is an index holding A's image as its {wrapped.platform or 'only'} child"
    if comparison.codes & {LAYERS_DIFFER, CONFIG_DIFFER}:
        return "B is another image than A"
    if OTHER in comparison.codes:
        return "B differs from A"
    return "B is A's image"


def _phrase(code: str, comparison: Comparison) -> str:
    if code == MEDIA_TYPE_CONVERTED:
        docker = "vnd.docker." in comparison.b.media_type
        return _PHRASES[code].format(types="Docker" if docker else "OCI")
    return _PHRASES[code]


def _advice(codes: set[str]) -> str:
    if codes & {LAYERS_DIFFER, CONFIG_DIFFER}:
        return _REBUILT
    if LAYERS_RECOMPRESSED in codes:
        return _RECOMPRESS
    if codes & {ANNOTATIONS_DIFFER, PLATFORMS_DIFFER, OTHER, INDEX_WRAPPED}:
        return _EDIT
    return _ENGINE


def _first(comparison: Comparison, code: str) -> Cause | None:
    return next((c for c in comparison.causes if c.code == code), None)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe_cause(cause: Cause) -> str:
    """One line of evidence: `code [platform] detail`."""
    where = f" [{cause.platform}]" if cause.platform else ""
    return f"{cause.code}{where}: {cause.detail}"


def render(comparison: Comparison) -> str:
    """The full human report: headline, both sides, then every cause with its evidence."""
    lines = [headline(comparison)]
    for name, side in (("A", comparison.a), ("B", comparison.b)):
        lines.append(f"  {name}: {side.reference}  {side.digest}  {side.media_type}")
    lines.extend(f"  - {describe_cause(cause)}" for cause in comparison.causes)
    return "\n".join(lines)
