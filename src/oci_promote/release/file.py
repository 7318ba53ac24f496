"""The promotion file: pydantic models, read from YAML (or a lock's JSON) with line numbers.

Every problem is reported at once, each with its line and field, so a user fixes a file in
one round: pydantic collects every field error in one pass, and the YAML is walked node by
node (PyYAML's composer) to know which line each value came from. The JSON Schema editors
use is generated from these models (`schema_json`), and a test keeps the shipped copy current.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import PromoteError, UsageError
from ..types.digest import Digest, parse_digest
from ..types.reference import Reference, parse_reference
from .lines import Problem, PromotionFileError, compose, problem_of

SCHEMA_PATH = Path(__file__).with_name("promotion.schema.json")


def _opt(description: str) -> Any:
    """An optional key: absent means "the defaults' value, else the built-in one"."""
    return Field(default=None, description=description)


def _kebab(name: str) -> str:
    return name.replace("_", "-")


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=_kebab, populate_by_name=True, extra="forbid", frozen=True)


def _reference(text: str) -> Reference:
    """A registry reference (no default tag); a ValueError pydantic reports at the field."""
    try:
        return parse_reference(text, default_tag=None)
    except PromoteError as e:
        raise ValueError(str(e)) from None


def _check_reference(text: str) -> str:
    _reference(text)
    return text


#: A registry reference, checked item by item (so a problem names `to[N]` and its line).
RefText = Annotated[str, AfterValidator(_check_reference)]


class TagFilter(_Model):
    """Which of the source repository's tags to promote: matching an `allow` regex (any, or all
    when none is given) and no `deny` regex. Python `re.search` semantics."""

    allow: list[str] = Field(default_factory=list, description="regexes; a tag must match one")
    deny: list[str] = Field(default_factory=list, description="regexes; a tag matching one is left out")

    @field_validator("allow", "deny")
    @classmethod
    def _compile(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            try:
                re.compile(p)
            except re.error as e:
                raise ValueError(f"bad regular expression {p!r}: {e}") from None
        return patterns

    def matches(self, tag: str) -> bool:
        allowed = not self.allow or any(re.search(p, tag) for p in self.allow)
        return allowed and not any(re.search(p, tag) for p in self.deny)


class Shared(_Model):
    """The keys both `defaults` and an entry may set; an entry's value wins."""

    referrers: bool | None = _opt("carry signatures, attestations, SBOMs (true)")
    referrer_types: list[str] | None = _opt("carry only referrers of these types")
    require_referrers: list[str] | None = _opt("refuse an image without these types")
    protect: list[str] | None = _opt("tag patterns (shell-style) that must never move")
    include_foreign_layers: bool | None = _opt("also copy non-distributable layers")
    to_registry: str | None = _opt("for entries without `to`: this registry")
    strip_prefix: str | None = _opt("the source repository prefix to replace")
    add_prefix: str | None = _opt("what replaces it")

    @field_validator("to_registry")
    @classmethod
    def _registry(cls, value: str | None) -> str | None:
        if value is not None:
            _reference(f"{value.rstrip('/')}/x")
        return value.rstrip("/") if value else value

    @field_validator("protect")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not p.strip() for p in value):
            raise ValueError("protect patterns must be non-empty")
        return value


class Defaults(Shared):
    """Settings for every entry that does not set them itself."""


class Image(Shared):
    """One entry: a source (tag, digest, or repository with `tags`) and its destinations."""

    source: str = Field(description="HOST/REPO:TAG, HOST/REPO@DIGEST, or HOST/REPO with `tags`")
    to: list[RefText] | None = _opt("destinations; a destination without tag takes the source's")
    tags: TagFilter | None = _opt("promote every tag of the source repository that matches")
    expected_digest: str | None = _opt("refuse unless the source tag gives this digest")

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        _reference(value)
        return value

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[RefText] | None) -> list[RefText] | None:
        if value is not None and not value:
            raise ValueError("an empty list: leave `to` out to use defaults.to-registry")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: TagFilter | None, info: ValidationInfo) -> TagFilter | None:
        source = info.data.get("source")
        if value is not None and source is not None:
            ref = _reference(source)
            if ref.tag or ref.digest:
                raise ValueError("`tags` needs a source repository without tag or digest")
        return value

    @field_validator("expected_digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_digest(value.strip())
            except PromoteError as e:
                raise ValueError(str(e)) from None
        return value.strip() if value else value

    @model_validator(mode="after")
    def _complete(self, info: ValidationInfo) -> Image:
        ref = _reference(self.source)
        if self.tags is None and ref.tag is None and ref.digest is None:
            raise ValueError("the source names no tag and no digest: give one, or `tags: {allow: [...]}`")
        if (
            self.tags is not None
            and self.to
            and any(_reference(t).tag or _reference(t).digest for t in self.to)
        ):
            raise ValueError("an entry with `tags` takes destination repositories without tag")
        if self.expected_digest and self.tags is not None:
            raise ValueError("`expected-digest` needs a single source tag, not `tags`")
        defaults: Defaults | None = (info.context or {}).get("defaults")
        if self.to is None and not (self.to_registry or (defaults and defaults.to_registry)):
            raise ValueError("no destination: give `to`, or `to-registry` here or in `defaults`")
        return self

    @property
    def source_reference(self) -> Reference:
        return _reference(self.source)

    @property
    def expected(self) -> Digest | None:
        return parse_digest(self.expected_digest) if self.expected_digest else None


class PromotionFile(_Model):
    """A release to promote (`version: 1`)."""

    model_config = ConfigDict(title="oci-promote promotion file")

    version: Literal[1] = Field(description="the file format's version")
    defaults: Defaults = Field(default_factory=lambda: Defaults())
    images: list[Image] = Field(min_length=1)

    def effective(self, image: Image, name: str) -> Any:
        """The entry's value of a setting, else the defaults', else None."""
        own = getattr(image, name)
        return own if own is not None else getattr(self.defaults, name)


# -- the lock, as the next hop's promotion file --------------------------------------------


class LockDestination(_Model):
    reference: str
    pinned: str


class LockImage(_Model):
    source: str
    digest: str
    destinations: list[LockDestination] = Field(min_length=1)
    referrers: list[str] = Field(default_factory=list)


class LockFile(_Model):
    """What `commit` writes: every image's digest and its pinned destinations."""

    model_config = ConfigDict(title="oci-promote lock file")

    version: Literal[1]
    images: list[LockImage]
    #: Only when read as a promotion file: where the next hop goes.
    defaults: Defaults = Field(default_factory=lambda: Defaults())


def lock_as_promotion(lock: LockFile) -> PromotionFile:
    """Each locked image becomes entries pinned by digest (its first destination's pinned
    reference); each of its destination tags goes to `defaults.to-registry` (prefixes mapped)."""
    where = lock.defaults
    if not where.to_registry:
        raise UsageError(
            "a lock file used as a promotion file needs --to-registry (or `defaults.to-registry`)"
        )
    images = []
    for item in lock.images:
        first = _reference(item.destinations[0].pinned)
        dest = map_repository(first, where.to_registry, where.strip_prefix, where.add_prefix)
        tags = list(dict.fromkeys(t for d in item.destinations if (t := _reference(d.reference).tag)))
        to = [f"{dest}:{t}" for t in tags] or [f"{dest}@{item.digest}"]
        images.append(Image(source=f"{first.name}@{item.digest}", to=to))
    return PromotionFile(version=1, defaults=where, images=images)


def map_repository(source: Reference, registry: str, strip: str | None, add: str | None) -> str:
    """`registry/` + the source's repository path with prefix `strip` replaced by `add`
    (a path without that prefix keeps its whole path)."""
    path = source.repository
    prefix = (strip or "").strip("/")
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix) :].lstrip("/")
    if add and add.strip("/"):
        path = f"{add.strip('/')}/{path}" if path else add.strip("/")
    return f"{registry}/{path}"


# -- reading -------------------------------------------------------------------------------


def load_promotion(path: str | Path, overrides: Defaults | None = None) -> PromotionFile:
    """Read and validate a promotion file (YAML) or a lock file (JSON); PromotionFileError
    lists every problem with its line. `overrides`: defaults given on the command line."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read {name}: {e.strerror or e}") from None
    return parse_promotion(text, name, overrides)


def parse_promotion(
    text: str, name: str = "<promotion file>", overrides: Defaults | None = None
) -> PromotionFile:
    data, lines, problems = compose(text)
    if problems:
        raise PromotionFileError(name, problems)
    if not isinstance(data, dict):
        raise PromotionFileError(name, [Problem(1, "", "expected a mapping with `version` and `images`")])
    if overrides is not None and isinstance(data.get("defaults") or {}, dict):
        given = overrides.model_dump(by_alias=True, exclude_none=True)
        data["defaults"] = {**(data.get("defaults") or {}), **given}
    is_lock = any(isinstance(i, dict) and "destinations" in i for i in data.get("images") or [])
    try:
        if is_lock:
            return lock_as_promotion(LockFile.model_validate(data))
        defaults = _try_defaults(data.get("defaults"))
        return PromotionFile.model_validate(data, context={"defaults": defaults})
    except ValidationError as e:
        raise PromotionFileError(name, [problem_of(err, lines) for err in e.errors()]) from None


def _try_defaults(raw: Any) -> Defaults | None:
    try:
        return Defaults.model_validate(raw or {})
    except ValidationError:
        return None  # reported with the whole file


def schema() -> dict[str, Any]:
    """The promotion file's JSON Schema (draft 2020-12), as shipped in `promotion.schema.json`."""
    out = PromotionFile.model_json_schema(by_alias=True)
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return out


def schema_json() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


__all__ = [
    "Defaults",
    "Image",
    "LockFile",
    "PromotionFile",
    "PromotionFileError",
    "TagFilter",
    "load_promotion",
    "map_repository",
    "parse_promotion",
    "schema_json",
]


if __name__ == "__main__":  # regenerate the shipped schema: python -m oci_promote.release.file
    SCHEMA_PATH.write_text(schema_json())
