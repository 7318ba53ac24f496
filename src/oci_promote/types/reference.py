"""Image references: `[host[:port]/]path[:tag][@digest]`, as distribution parses them.

References usually arrive from CI workflow inputs, so parsing is strict and every
rejection says exactly which part is wrong. Registries are normalised (lowercase
host, Docker Hub aliases folded into one name) so that two spellings of the same
registry compare equal and find the same credentials.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..errors import InvalidDigestError, InvalidReferenceError, UsageError
from .digest import Digest, parse_digest

DOCKER_HUB = "registry-1.docker.io"
#: How people and policies spell Docker Hub; the API host above stays internal.
DOCKER_HUB_SHOWN = "docker.io"
#: Docker's transport prefix (`docker://host/repo`, as skopeo spells it), accepted and dropped.
DOCKER_PREFIX = "docker://"
#: skopeo's other transports: named, so `oci-archive:x.tar` is not read as a host with port ''.
#: Those that are also fine names for a Docker Hub image (`dir:latest`) count only before a path.
_OTHER_TRANSPORTS = ("docker-archive", "oci-archive", "docker-daemon", "containers-storage")
_PATH_TRANSPORTS = ("dir", "ostree", "sif", "tarball")
HUB_ALIASES = frozenset({"docker.io", "index.docker.io", DOCKER_HUB})
NAME_MAX = 255

_Fail = Callable[[str], InvalidReferenceError]

# Patterns follow distribution's grammar; re.ASCII keeps \w from admitting Unicode letters.
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*", re.ASCII)
_TAG = re.compile(r"\w[\w.-]{0,127}", re.ASCII)
_DOMAIN_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*", re.ASCII)
_IPV6_CHARS = re.compile(r"[a-f0-9:]+", re.ASCII)
_PORT = re.compile(r"[0-9]+", re.ASCII)
_IMAGE_ID = re.compile(r"[a-f0-9]{64}", re.ASCII)
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


@dataclass(frozen=True)
class Reference:
    """A parsed image reference; registry and repository are already normalised."""

    registry: str
    repository: str
    tag: str | None
    digest: Digest | None

    @property
    def name(self) -> str:
        """`registry/repository` as people write it: Docker Hub is `docker.io`."""
        return f"{DOCKER_HUB_SHOWN if self.registry == DOCKER_HUB else self.registry}/{self.repository}"

    @property
    def target(self) -> str:
        """What to ask the registry for; the digest wins because it cannot move."""
        if self.digest is not None:
            return str(self.digest)
        if self.tag is not None:
            return self.tag
        raise ValueError(f"{self.name} has neither a tag nor a digest")

    def with_tag(self, tag: str | None) -> Reference:
        if tag is not None and not _TAG.fullmatch(tag):
            raise InvalidReferenceError(f"{self.name}:{tag}", _bad_tag(tag))
        return replace(self, tag=tag)

    def with_digest(self, digest: Digest | None) -> Reference:
        return replace(self, digest=digest)

    def pinned(self, digest: Digest) -> str:
        """The reference people should deploy: immutable, with no tag to drift."""
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str, *, default_tag: str | None = "latest") -> Reference:
    """Parse and normalise a reference; raise InvalidReferenceError naming the fault.

    A reference with both a tag and a digest keeps both; `target` prefers the digest.
    `default_tag` applies only when neither is given.
    """

    def fail(reason: str) -> InvalidReferenceError:
        return InvalidReferenceError(text, reason)

    if not text:
        raise fail("empty reference")
    if text.startswith(DOCKER_PREFIX) and "://" not in text[len(DOCKER_PREFIX) :]:
        return parse_reference(text[len(DOCKER_PREFIX) :], default_tag=default_tag)
    transport, colon, after = text.partition(":")
    path_like = after.startswith(("/", ".", "~"))
    if colon and (transport in _OTHER_TRANSPORTS or (transport in _PATH_TRANSPORTS and path_like)):
        unpack = " (an oci-archive is a tar of one: tar -xf FILE -C DIR, then oci:DIR)"
        raise fail(
            f"the {transport}: transport is not supported; oci-promote reads registry references "
            f"(HOST/REPO[:TAG|@DIGEST], docker://...) and OCI image layouts (oci:PATH[:TAG|@DIGEST])"
            + (unpack if transport == "oci-archive" else "")
        )
    scheme, separator, _ = text.partition("://")
    if separator:
        raise fail(f"a reference is HOST/REPO[:TAG|@DIGEST], not a URL: drop '{scheme}://'")
    if any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in text):
        raise fail("contains whitespace or control characters")

    rest, at, digest_text = text.partition("@")
    digest: Digest | None = None
    if at:
        if not digest_text:
            raise fail("'@' must be followed by a digest")
        try:
            digest = parse_digest(digest_text)
        except InvalidDigestError as exc:
            raise fail(f"invalid digest {digest_text!r}: {exc.reason}") from None

    first, slash, remainder = rest.partition("/")
    if slash and _looks_like_host(first):
        registry = _normalise_registry(first, fail)
    else:
        registry, remainder = DOCKER_HUB, rest

    path, colon, tag_text = remainder.partition(":")
    _check_path(path, fail)
    if registry == DOCKER_HUB and _IMAGE_ID.fullmatch(path):
        raise fail("a 64-character hex string is an image ID, not a repository name")
    tag: str | None = None
    if colon:
        if not tag_text:
            raise fail("':' must be followed by a tag")
        if not _TAG.fullmatch(tag_text):
            raise fail(_bad_tag(tag_text))
        tag = tag_text
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"

    # Count the name as distribution does, where Docker Hub is spelled "docker.io".
    counted = len(f"{'docker.io' if registry == DOCKER_HUB else registry}/{path}")
    if counted > NAME_MAX:
        raise fail(f"name is {counted} characters, over the limit of {NAME_MAX}")

    if tag is None and digest is None:
        tag = default_tag
    return Reference(registry=registry, repository=path, tag=tag, digest=digest)


def parse_registry_host(text: str) -> str:
    """A registry named alone (`host[:port]`, as for --insecure-registry), normalised."""
    hint = " (give it without a URL scheme)" if "://" in str(text) else ""
    problem = UsageError(f"{text!r} is not a registry HOST[:PORT]{hint}")
    if not isinstance(text, str) or "/" in text:
        raise problem
    try:
        ref = parse_reference(f"{text}/probe")
    except UsageError:
        raise problem from None  # not "invalid reference 'HOST/probe'": name what was given
    if ref.registry == DOCKER_HUB and "." not in text:
        raise problem
    return ref.registry


def is_loopback_registry(registry: str) -> bool:
    """True for localhost, 127.0.0.0/8 and [::1] (any port): where plain HTTP is the norm."""
    host = registry.lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_registry_host(registry: str) -> str:
    """Fold case and Docker Hub's aliases, for comparing registries from any source."""
    host = registry.lower()
    return DOCKER_HUB if host in HUB_ALIASES else host


def _looks_like_host(component: str) -> bool:
    # Distribution's rule: without "." or ":" (or "localhost") it is a path component.
    return "." in component or ":" in component or component == "localhost"


def _normalise_registry(text: str, fail: _Fail) -> str:
    text = text.lower()
    if text.startswith("["):
        inside, bracket, after = text[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise fail(f"invalid registry host {text!r}")
        host = _ipv6_literal(inside)
        if host is None:
            raise fail(f"invalid IPv6 address {inside!r}")
        has_port, port = bool(after), after[1:]
    else:
        host, colon, port = text.partition(":")
        has_port = bool(colon)
        if not _DOMAIN_NAME.fullmatch(host):
            raise fail(f"invalid registry host {host!r}")
    if has_port:
        if not _PORT.fullmatch(port) or not 0 < int(port) < 65536:
            raise fail(f"invalid port {port!r}: expected a number from 1 to 65535")
        host = f"{host}:{int(port)}"
    return normalise_registry_host(host)


def _ipv6_literal(text: str) -> str | None:
    # Like distribution: hex and colons only, so no zone IDs or IPv4-mapped forms.
    if not _IPV6_CHARS.fullmatch(text):
        return None
    try:
        return f"[{ipaddress.IPv6Address(text).compressed}]"
    except ValueError:
        return None


def _check_path(path: str, fail: _Fail) -> None:
    if not path:
        raise fail("missing repository name")
    if path.startswith("/") or path.endswith("/"):
        raise fail(f"repository name must not start or end with '/': {path!r}")
    components = path.split("/")
    if "" in components:
        raise fail(f"repository name has an empty component ('//'): {path!r}")
    for component in components:
        if _PATH_COMPONENT.fullmatch(component):
            continue
        if _PATH_COMPONENT.fullmatch(component.lower()):
            raise fail(f"repository name must be lowercase: {path!r}")
        raise fail(
            f"invalid repository name component {component!r}: use lowercase letters and "
            "digits separated by '.', '_', '__' or '-'"
        )


def _bad_tag(tag: str) -> str:
    return (
        f"invalid tag {tag!r}: a tag is 1 to 128 of letters, digits, '_', '.' and '-', "
        "not starting with '.' or '-'"
    )
