from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oci_promote.transport.challenge import Challenge, parse_challenges


def test_bearer_as_registries_send_it() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull"'
    )
    assert parse_challenges(header) == [
        Challenge(
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/alpine:pull",
            },
        )
    ]


def test_several_challenges_in_one_header() -> None:
    header = 'Basic realm="x", Bearer realm="y",service="z"'
    assert parse_challenges(header) == [
        Challenge("basic", {"realm": "x"}),
        Challenge("bearer", {"realm": "y", "service": "z"}),
    ]


def test_commas_inside_quoted_strings() -> None:
    (challenge,) = parse_challenges('Bearer realm="r",scope="repository:a:pull,push",error="x"')
    assert challenge.params["scope"] == "repository:a:pull,push"
    assert challenge.params["error"] == "x"


def test_backslash_escapes() -> None:
    (challenge,) = parse_challenges(r'Basic realm="say \"hi\" \\ \o/"')
    assert challenge.params["realm"] == 'say "hi" \\ o/'


def test_token68() -> None:
    assert parse_challenges("Negotiate abc==") == [Challenge("negotiate", token68="abc==")]
    assert parse_challenges("Negotiate a+b/c-d._~==, Basic realm=x") == [
        Challenge("negotiate", token68="a+b/c-d._~=="),
        Challenge("basic", {"realm": "x"}),
    ]
    # RFC 7235 reads a lone "name=" as token68, not as a parameter without a value.
    assert parse_challenges("Bearer realm=") == [Challenge("bearer", token68="realm=")]


def test_case_and_whitespace() -> None:
    header = '  BEARER   Realm = "x" ,\tService=reg  ,  Basic  '
    assert parse_challenges(header) == [
        Challenge("bearer", {"realm": "x", "service": "reg"}),
        Challenge("basic"),
    ]


def test_bare_schemes_and_empty_list_elements() -> None:
    assert parse_challenges("Basic") == [Challenge("basic")]
    assert parse_challenges(",, Basic,,Bearer ,") == [Challenge("basic"), Challenge("bearer")]


def test_unquoted_values_and_empty_quoted_value() -> None:
    assert parse_challenges('Basic realm=registry, charset=UTF-8, x=""') == [
        Challenge("basic", {"realm": "registry", "charset": "UTF-8", "x": ""})
    ]
    # "/" and ":" are not token characters: an unquoted URL is malformed.
    assert parse_challenges("Bearer realm=https://a/token") == []


def test_first_of_repeated_parameters_wins() -> None:
    (challenge,) = parse_challenges('Bearer realm="a", realm="b"')
    assert challenge.params == {"realm": "a"}


def test_params_are_read_only() -> None:
    (challenge,) = parse_challenges('Bearer realm="a"')
    with pytest.raises(TypeError):
        challenge.params["realm"] = "evil"  # type: ignore[index]


@pytest.mark.parametrize(
    "header",
    [
        "",
        "   ",
        ",,,",
        "=",
        '"Bearer"',
        'realm="x"',
        "@@@",
        'Bearer realm="unterminated',
        'Bearer realm="x" service="y"',  # missing comma between parameters
        "Basic Bearer realm=x",  # missing comma between challenges
        "Bearer realm=x=y",
        'Bearer"x"',
        "Bearer realm=\x00",
    ],
)
def test_garbage_gives_nothing(header: str) -> None:
    assert parse_challenges(header) == []


def test_keeps_complete_challenges_before_garbage() -> None:
    assert parse_challenges('Basic realm="x", Bearer realm="y", @@@') == [
        Challenge("basic", {"realm": "x"}),
        Challenge("bearer", {"realm": "y"}),
    ]
    assert parse_challenges('Basic realm="x", Bearer realm="unterminated') == [
        Challenge("basic", {"realm": "x"})
    ]


_pieces = st.sampled_from(
    ["Bearer", "Basic", " ", ",", "=", '"', "\\", "realm", "abc==", "\t", "x", "/", "@", "é"]
)


@given(st.text() | st.lists(_pieces, max_size=20).map("".join))
def test_never_raises(header: str) -> None:
    for challenge in parse_challenges(header):
        assert challenge.scheme == challenge.scheme.lower()
        assert all(name == name.lower() for name in challenge.params)
