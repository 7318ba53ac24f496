from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oci_promote.errors import InvalidReferenceError
from oci_promote.types.digest import Digest, parse_digest
from oci_promote.types.reference import (
    Reference,
    is_loopback_registry,
    parse_reference,
)

SHA256 = "sha256:" + "f" * 64
SHA512 = "sha512:" + "f" * 128
HUB = "registry-1.docker.io"


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("alpine", HUB, "library/alpine", "latest", None),
        ("alpine:3.20", HUB, "library/alpine", "3.20", None),
        ("docker.io/alpine", HUB, "library/alpine", "latest", None),
        ("index.docker.io/alpine", HUB, "library/alpine", "latest", None),
        ("registry-1.docker.io/alpine", HUB, "library/alpine", "latest", None),
        ("Docker.IO/acme/api", HUB, "acme/api", "latest", None),
        ("acme/api:v1", HUB, "acme/api", "v1", None),
        ("docker.io/library/alpine:edge", HUB, "library/alpine", "edge", None),
        ("ghcr.io/acme/api:1.2.3", "ghcr.io", "acme/api", "1.2.3", None),
        ("GHCR.io/acme/api", "ghcr.io", "acme/api", "latest", None),
        ("ghcr.io/api", "ghcr.io", "api", "latest", None),
        ("localhost/api", "localhost", "api", "latest", None),
        ("localhost:5000/api", "localhost:5000", "api", "latest", None),
        ("127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", "latest", None),
        ("192.168.1.1/repo", "192.168.1.1", "repo", "latest", None),
        ("[::1]:5000/repo", "[::1]:5000", "repo", "latest", None),
        ("[2001:db8::1]/repo:tag", "[2001:db8::1]", "repo", "tag", None),
        ("[2001:DB8:0::1]:5000/repo", "[2001:db8::1]:5000", "repo", "latest", None),
        ("test:5000/repo", "test:5000", "repo", "latest", None),
        ("test-com:8080/foo", "test-com:8080", "foo", "latest", None),
        ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", None),
        (
            "b.gcr.io/test.example.com/my-app:test.example.com",
            "b.gcr.io",
            "test.example.com/my-app",
            "test.example.com",
            None,
        ),
        ("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux", "latest", None),
        ("r.io/a/b/c/d/e/f", "r.io", "a/b/c/d/e/f", "latest", None),
        ("r.io/a__b/c-d/e---f/g.h/i_j", "r.io", "a__b/c-d/e---f/g.h/i_j", "latest", None),
        ("test_com", HUB, "library/test_com", "latest", None),
        ("test.com:tag", HUB, "library/test.com", "tag", None),  # no "/": not a host
        ("localhost:5000", HUB, "library/localhost", "5000", None),
        ("lowercase:Uppercase", HUB, "library/lowercase", "Uppercase", None),
        ("r.io/a:_under", "r.io", "a", "_under", None),
        ("r.io/a:" + "t" * 128, "r.io", "a", "t" * 128, None),
        (f"r.io/a@{SHA256}", "r.io", "a", None, SHA256),
        (f"r.io/a:v1@{SHA256}", "r.io", "a", "v1", SHA256),
        (f"test:5000/repo:tag@{SHA512}", "test:5000", "repo", "tag", SHA512),
        (f"alpine@{SHA256}", HUB, "library/alpine", None, SHA256),
    ],
)
def test_valid(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert ref == Reference(registry, repository, tag, parse_digest(digest) if digest else None)
    assert parse_reference(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty reference"),
        ("Foo/bar", "repository name must be lowercase: 'Foo/bar'"),
        ("Uppercase:tag", "repository name must be lowercase: 'Uppercase'"),
        ("test:5000/Uppercase/lowercase:tag", "must be lowercase: 'Uppercase/lowercase'"),
        ("r.io/a:b:c", "invalid tag 'b:c'"),
        ("r.io/a:.dot", "invalid tag '.dot'"),
        ("r.io/a:-dash", "invalid tag '-dash'"),
        ("r.io/a:" + "t" * 129, "invalid tag"),
        ("r.io/a:tag/x", "invalid tag 'tag/x'"),
        ("r.io/a:é", "invalid tag 'é'"),
        ("r.io/a:", "':' must be followed by a tag"),
        ("r.io/a@", "'@' must be followed by a digest"),
        ("r.io/a@sha256:abc", "sha256 needs 64 lowercase hex characters"),
        ("r.io/a@sha256:" + "F" * 64, "lowercase hex"),
        ("r.io/a@md5:" + "f" * 32, "unsupported algorithm 'md5'"),
        ("validname@invaliddigest:" + "f" * 64, "unsupported algorithm 'invaliddigest'"),
        ("r.io/a@" + "f" * 64, "invalid digest"),
        (f"r.io/a@{SHA256}@{SHA256}", "invalid digest"),
        ("r.io/", "missing repository name"),
        ("r.io/a/", "must not start or end with '/'"),
        ("/a", "must not start or end with '/'"),
        ("a//b", "empty component"),
        ("r.io/a//b", "empty component"),
        (":justtag", "missing repository name"),
        (f"@{SHA256}", "missing repository name"),
        ("aa/asdf$$^/aa", "invalid repository name component 'asdf$$^'"),
        ("a/-b", "invalid repository name component '-b'"),
        ("a/b.", "invalid repository name component 'b.'"),
        ("a/b___c", "invalid repository name component 'b___c'"),
        ("a/b..c", "invalid repository name component 'b..c'"),
        ("r.io:abc/a", "invalid port 'abc'"),
        ("r.io:/a", "invalid port ''"),
        ("r.io:70000/a", "invalid port '70000'"),
        ("r.io:0/a", "invalid port '0'"),
        ("-r.io/a", "invalid registry host '-r.io'"),
        ("foo_bar.com/a", "invalid registry host 'foo_bar.com'"),
        ("r..io/a", "invalid registry host 'r..io'"),
        ("[fe80::1%eth0]:5000/repo", "invalid IPv6 address"),
        ("[::ffff:127.0.0.1]/repo", "invalid IPv6 address"),
        ("[::1/repo", "invalid registry host"),
        ("[::1]x/repo", "invalid registry host"),
        ("[1:2:3:4:5:6:7:8:9]/repo", "invalid IPv6 address"),
        ("[2001:db8::1]:5000", "invalid repository name component '[2001'"),  # no "/"
        ("a" * 64, "image ID"),
        ("r.io/a b", "contains whitespace or control characters"),
        (" alpine", "contains whitespace or control characters"),
        ("alpine\n", "contains whitespace or control characters"),
        ("alpine\n::error::pwned", "contains whitespace or control characters"),
        ("alpine\r", "contains whitespace or control characters"),
        ("alp\x00ine", "contains whitespace or control characters"),
        ("alp\u200bine", "contains whitespace or control characters"),
        ("alpine\u00a0", "contains whitespace or control characters"),
        ("::error::oops", "missing repository name"),
        ("::error file=x::oops", "contains whitespace or control characters"),
        ("alpíne", "invalid repository name component 'alpíne'"),
    ],
)
def test_invalid(text: str, reason: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(text)
    assert reason in info.value.reason
    assert info.value.reference == text


def test_too_long_counts_the_full_name() -> None:
    path = "/".join(["a"] * 121)  # 241 characters
    assert len(str(parse_reference(f"r.io/{path}a"))) > 0  # 4 + 1 + 242 = 247
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(f"registry.example.com/{path}")
    assert info.value.reason == "name is 262 characters, over the limit of 255"
    # Docker Hub counts as "docker.io/", whichever alias was written.
    hub_path = "a" * 240  # "docker.io/acme/" + 240 = 255
    assert parse_reference(f"acme/{hub_path}").repository == f"acme/{hub_path}"
    with pytest.raises(InvalidReferenceError, match="over the limit of 255"):
        parse_reference(f"acme/{hub_path}a")
    # distribution's vector: 128 components of "a/" then "a" is too long for any host.
    with pytest.raises(InvalidReferenceError, match="over the limit"):
        parse_reference("a/" * 128 + "a:tag")


def test_message_names_reference_and_escapes_newlines() -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference("a\n::error::x")
    assert "\n" not in str(info.value)
    assert "'a\\n::error::x'" in str(info.value)


def test_default_tag() -> None:
    assert parse_reference("alpine", default_tag=None).tag is None
    assert parse_reference("alpine", default_tag="stable").tag == "stable"
    assert parse_reference(f"alpine@{SHA256}", default_tag="stable").tag is None


def test_properties_and_derivations() -> None:
    ref = parse_reference(f"ghcr.io/acme/api:v1@{SHA256}")
    digest = parse_digest(SHA256)
    assert ref.name == "ghcr.io/acme/api"
    assert ref.target == SHA256  # the digest wins over the tag
    assert str(ref) == f"ghcr.io/acme/api:v1@{SHA256}"
    assert ref.pinned(digest) == f"ghcr.io/acme/api@{SHA256}"

    tagged = ref.with_digest(None)
    assert tagged.target == "v1"
    assert str(tagged) == "ghcr.io/acme/api:v1"
    assert str(tagged.with_tag("v2")) == "ghcr.io/acme/api:v2"
    assert tagged.with_tag(None).with_digest(digest).target == SHA256

    bare = tagged.with_tag(None)
    assert str(bare) == "ghcr.io/acme/api"
    with pytest.raises(ValueError, match="neither a tag nor a digest"):
        _ = bare.target
    with pytest.raises(InvalidReferenceError, match="invalid tag"):
        bare.with_tag("bad tag")


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("LOCALHOST:5000", True),
        ("127.0.0.1", True),
        ("127.0.0.1:5000", True),
        ("127.1.2.3:80", True),
        ("[::1]", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("128.0.0.1:5000", False),
        ("[::2]:5000", False),
        ("localhost.example.com", False),
        ("registry-1.docker.io", False),
        ("ghcr.io", False),
        ("10.0.0.1:5000", False),
        ("", False),
        ("[", False),
    ],
)
def test_is_loopback_registry(registry: str, loopback: bool) -> None:
    assert is_loopback_registry(registry) is loopback


def test_loopback_registries_from_references() -> None:
    for text in ("localhost/a", "localhost:5000/a", "127.0.0.1:5000/a", "[::1]:5000/a"):
        assert is_loopback_registry(parse_reference(text).registry)


_component = st.from_regex(r"[a-z0-9]{1,3}(?:(?:[._]|__|-{1,2})[a-z0-9]{1,3}){0,2}", fullmatch=True)
_garbage = st.text(alphabet="aZ0._-:@/[] \n", max_size=4)
# Mostly valid pieces with a few broken ones mixed in, so both outcomes are exercised.
_near_valid = st.builds(
    lambda host, parts, tag, digest: host + "/".join(parts) + tag + digest,
    st.sampled_from(["", "r.io/", "R.io/", "localhost/", "localhost:5000/", "[::1]:5000/"])
    | st.sampled_from(["h:0/", "[x]/", "a/", "docker.io/", "[::1/", "r.io:/"]),
    st.lists(_component, min_size=1, max_size=4) | st.lists(_component | _garbage, min_size=0, max_size=4),
    st.sampled_from(["", ":v1", ":V_1.0-rc"]) | st.sampled_from([":", ":.x", ":a:b", ":é"]),
    st.sampled_from(["", f"@{SHA256}", f"@{SHA512}"])
    | st.sampled_from(["@", "@sha256:00", "@md5:" + "0" * 32, "@" + "a" * 64]),
)


@given(st.text() | _near_valid)
def test_parse_only_raises_invalid_reference_and_round_trips(text: str) -> None:
    try:
        ref = parse_reference(text)
    except InvalidReferenceError:
        return
    assert isinstance(ref.digest, Digest | None)
    assert parse_reference(str(ref)) == ref
    assert parse_reference(str(ref), default_tag=None) == ref
