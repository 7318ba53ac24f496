"""Where images are: a registry reference, or an OCI image layout `oci:PATH[:TAG|@DIGEST]`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidReferenceError, UsageError
from .digest import Digest, parse_digest
from .reference import Reference, parse_reference

LAYOUT_PREFIX = "oci:"
#: The index.json annotation that names an image in a layout (its "tag").
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class LayoutReference:
    path: Path
    tag: str | None
    digest: Digest | None

    def __str__(self) -> str:
        suffix = f"@{self.digest}" if self.digest else (f":{self.tag}" if self.tag else "")
        return f"{LAYOUT_PREFIX}{self.path}{suffix}"

    @property
    def name(self) -> str:
        return f"{LAYOUT_PREFIX}{self.path}"

    def with_tag(self, tag: str | None) -> LayoutReference:
        return LayoutReference(self.path, tag, self.digest)

    def pinned(self, digest: Digest) -> str:
        return f"{self.name}@{digest}"


def is_layout_reference(text: str) -> bool:
    return text.startswith(LAYOUT_PREFIX)


def parse_layout_reference(text: str) -> LayoutReference:
    """Split `oci:PATH[:TAG|@DIGEST]`; the tag or digest follows the last path component."""
    rest = text[len(LAYOUT_PREFIX) :]
    head, slash, last = rest.rpartition("/")
    tag: str | None = None
    digest: Digest | None = None
    if "@" in last:
        last, _, digest_text = last.partition("@")
        try:
            digest = parse_digest(digest_text)
        except UsageError as e:
            raise InvalidReferenceError(text, str(e)) from None
    elif ":" in last:
        last, _, tag = last.partition(":")
        if not tag:
            raise InvalidReferenceError(text, "empty tag after ':'")
    path_text = head + slash + last
    if not path_text:
        raise InvalidReferenceError(text, "no layout directory given after 'oci:'")
    return LayoutReference(Path(path_text), tag, digest)


#: Where images are: a registry reference or an OCI layout.
Location = Reference | LayoutReference


def parse_location(text: str, *, default_tag: str | None = "latest") -> Location:
    """A registry reference, or `oci:PATH[:TAG|@DIGEST]`."""
    if not isinstance(text, str):
        raise UsageError(f"a reference must be text, got {type(text).__name__}")
    if is_layout_reference(text):
        return parse_layout_reference(text)
    return parse_reference(text, default_tag=default_tag)
