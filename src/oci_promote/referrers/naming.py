"""Tag names that carry referrers on registries without the referrers API.

* The referrers tag schema (distribution-spec 1.1, "Referrers Tag Schema"): the index of a
  subject's referrers lives at ``<alg>-<encoded>``, the algorithm cut to 32 and the encoded
  part to 64 characters, every character a tag may not hold replaced by ``-``.
* Digest tags: cosign's ``<alg>-<hex>.sig``, ``.att`` and ``.sbom`` and any other tag that
  starts with ``<alg>-<hex>`` (what ``regctl image copy --digest-tags`` carries). They hold
  a manifest *about* the subject without a ``subject`` field; the tag name is the link.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..types.digest import Digest

COSIGN_SUFFIXES = (".sig", ".att", ".sbom")
_NOT_TAG_CHAR = re.compile(r"[^a-zA-Z0-9._-]")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


def referrers_tag(digest: Digest | str) -> str:
    """The referrers tag schema's tag for a subject digest (the spec's three examples hold)."""
    algorithm, _, encoded = str(digest).partition(":")
    return _NOT_TAG_CHAR.sub("-", f"{algorithm[:32]}-{encoded[:64]}")


def digest_tag_prefix(digest: Digest) -> str:
    """``<alg>-<hex>``: what every digest tag of this subject starts with (full hex)."""
    return f"{digest.algorithm}-{digest.encoded}"


def is_valid_tag(tag: str) -> bool:
    return _TAG.fullmatch(tag) is not None


def digest_tags_for(subject: Digest, tags: Iterable[str]) -> list[str]:
    """The digest tags of ``subject`` among ``tags``: those that start with ``<alg>-<hex>``,
    except the referrers tag schema's own index tag, sorted for a stable order."""
    prefix = digest_tag_prefix(subject)
    schema_tag = referrers_tag(subject)
    return sorted(t for t in set(tags) if t.startswith(prefix) and t != schema_tag)


def cosign_suffix(tag: str) -> str | None:
    """``.sig``, ``.att`` or ``.sbom`` when the tag is one of cosign's, else None."""
    for suffix in COSIGN_SUFFIXES:
        if tag.endswith(suffix):
            return suffix
    return None
