"""The CLI's settings against a real registry: SOURCE and DEST from the environment, blank
expected digests refused before any request, and input errors that name their flag."""

from __future__ import annotations

import pytest

import oci_promote
from oci_promote.errors import UsageError
from testkit.registry import RunningRegistry
from tests.integration.test_cli import V3, WRITES, cli, seed


def test_source_and_destinations_come_from_the_environment(
    registry: RunningRegistry, registry2: RunningRegistry
) -> None:
    source = seed(registry)
    env = {
        "OCI_PROMOTE_SOURCE": source,
        "OCI_PROMOTE_DESTINATIONS": f"{registry2.host}/env/one:v1, {registry2.host}/env/two:v1",
    }
    result = cli("copy", env=env)  # was: "the following arguments are required: SOURCE, DEST"
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{registry2.host}/env/one@{V3}", f"{registry2.host}/env/two@{V3}"]
    assert "environment: OCI_PROMOTE_SOURCE, OCI_PROMOTE_DESTINATIONS" in result.stderr  # named, as all are

    # Arguments win over their variables: the DEST given replaces the listed ones.
    flags_first = cli("copy", "--jobs", "2", source, f"{registry2.host}/env/three:v1", env=env)
    assert flags_first.returncode == 0, flags_first.stderr
    assert flags_first.stdout.splitlines() == [f"{registry2.host}/env/three@{V3}"]
    # A SOURCE argument with the destinations from the environment.
    elsewhere = registry2.host + "/env/missing:v1"
    only_source = cli("copy", source, env={**env, "OCI_PROMOTE_SOURCE": elsewhere})
    assert only_source.returncode == 0, only_source.stderr
    assert f"{registry2.host}/env/one@{V3}" in only_source.stdout


def test_no_source_nor_destination_is_one_line_naming_argument_and_variable(
    registry: RunningRegistry,
) -> None:
    source = seed(registry)
    for args, env, named in [
        ((), {}, "OCI_PROMOTE_SOURCE"),
        ((source,), {}, "OCI_PROMOTE_DESTINATIONS"),
        ((), {"OCI_PROMOTE_SOURCE": source}, "OCI_PROMOTE_DESTINATIONS"),
    ]:
        result = cli("copy", "-q", *args, env=env)
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith("oci-promote: error: no ") and named in line


@pytest.mark.parametrize(
    ("args", "env", "origin"),
    [
        (("--expected-digest", ""), {}, "--expected-digest"),
        (("--expected-digest=",), {}, "--expected-digest"),
        (("--expected-digest", " "), {}, "--expected-digest"),
        ((), {"OCI_PROMOTE_EXPECTED_DIGEST": ""}, "OCI_PROMOTE_EXPECTED_DIGEST"),
        ((), {"OCI_PROMOTE_EXPECTED_DIGEST": "  "}, "OCI_PROMOTE_EXPECTED_DIGEST"),
    ],
)
def test_a_blank_expected_digest_is_refused_before_any_request(
    registry: RunningRegistry, args: tuple[str, ...], env: dict[str, str], origin: str
) -> None:
    """A digest guard that a blank build output switches off fails open: refuse it (exit 2)."""
    source = seed(registry)
    mark = registry.mark()
    result = cli("copy", "-q", *args, source, f"{registry.host}/blank/app:v1", env=env)
    assert result.returncode == 2, result.stderr  # was: 0, and the copy made
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"oci-promote: error: {origin}: is empty"), line
    assert registry.requests_since(mark) == []


def test_the_library_refuses_an_empty_expected_digest(registry: RunningRegistry) -> None:
    source = seed(registry)
    mark = registry.mark()
    for blank in ("", "  "):
        with pytest.raises(UsageError, match="expected_digest is empty"):
            oci_promote.copy(source, [f"{registry.host}/blank/lib:v1"], expected_digest=blank)
    assert registry.requests_since(mark) == []


def test_bounds_print_as_integers_and_hosts_are_named_by_their_flag(registry: RunningRegistry) -> None:
    source = seed(registry)
    mark = registry.mark()
    chunk = cli("copy", "--chunk-size", "1", source, f"{registry.host}/flags/app:v1")
    assert chunk.returncode == 2
    assert chunk.stderr.splitlines() == [
        "oci-promote: error: --chunk-size: must be at least 65536 and at most 1073741824, got 1"
    ]  # was: at most 1.07374e+09
    host = cli("copy", "--insecure-registry", "HOST WITH SPACE", source, f"{registry.host}/flags/app:v1")
    assert host.returncode == 2
    # was: "invalid reference 'HOST WITH SPACE/probe'"
    assert host.stderr.splitlines() == [
        "oci-promote: error: --insecure-registry: 'HOST WITH SPACE' is not a registry HOST[:PORT]"
    ]
    from_env = cli("digest", "-q", source, env={"OCI_PROMOTE_PLAIN_HTTP": "ok.example, bad host"})
    assert from_env.returncode == 2
    assert from_env.stderr.splitlines() == [
        "oci-promote: error: OCI_PROMOTE_PLAIN_HTTP: 'bad host' is not a registry HOST[:PORT]"
    ]
    assert [e for e in registry.requests_since(mark) if e.method in WRITES] == []
