"""The Action's inputs read and checked once, in-process: trimming, new inputs, verify mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from oci_promote.action import ActionInputError
from oci_promote.action.inputs import read_inputs
from oci_promote.action.report import credential_hint
from oci_promote.errors import AuthenticationError
from oci_promote.options import DEFAULT_JOBS
from oci_promote.types.digest import parse_digest

DIGEST = "sha256:" + "a" * 64


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("OCI_PROMOTE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env file or layout directory from elsewhere


def _env(monkeypatch: pytest.MonkeyPatch, **inputs: str) -> None:
    for field, value in inputs.items():
        monkeypatch.setenv("OCI_PROMOTE_" + field.upper(), value)


def _problems(excinfo: pytest.ExceptionInfo[ActionInputError]) -> dict[str, str]:
    return {p.input: p.message for p in excinfo.value.problems}


def test_every_input_is_trimmed_alike_secrets_included(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(
        monkeypatch,
        source=" reg.example/acme/api:1 \n",
        destinations="reg.example/prod/api:1\n\n",
        expected_digest=f"{DIGEST}\r\n",
        src_username="robot \n",
        src_password="s3cret \n",
        dest_username="\tpusher",
        dest_password="t0ken\n",
        github_token="ghs_x \n",
        jobs=" 8\n",
        dry_run="true\n",
        mode="copy \n",
        referrers=" false\n",
    )
    inputs = read_inputs()
    options = inputs.copy_options()
    assert str(options.source) == "reg.example/acme/api:1"
    assert options.expected_digest == parse_digest(DIGEST)
    assert options.source_credential is not None and options.destination_credential is not None
    assert options.source_credential.username == "robot"
    assert options.source_credential.password.get_secret_value() == "s3cret"
    assert options.destination_credential.username == "pusher"
    assert options.destination_credential.password.get_secret_value() == "t0ken"
    assert inputs.settings.github_token is not None
    assert inputs.settings.github_token.get_secret_value() == "ghs_x"
    assert (options.jobs, options.dry_run, options.referrers) == (8, True, False)


def test_an_input_of_only_whitespace_is_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, source="reg.example/a:1", destinations="reg.example/b", jobs=" \n", dry_run="\n")
    options = read_inputs().copy_options()
    assert (options.jobs, options.dry_run) == (DEFAULT_JOBS, False)
    assert [str(d) for d in options.destinations] == ["reg.example/b:1"]


def test_a_type_error_does_not_hide_the_other_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(
        monkeypatch,
        source="reg.example/Acme:1",
        destinations="reg.example/ok:1, http://reg.example/x",
        expected_digest="sha256:abc",
        src_username="someone",
        insecure_registries="http://reg.example:5000",
        jobs="many",
        dry_run="maybe",
        mode="push",
    )
    with pytest.raises(ActionInputError) as excinfo:
        read_inputs()
    assert list(_problems(excinfo)) == [
        "source",
        "destinations",
        "expected-digest",
        "mode",
        "source-password",
        "insecure-registries",
        "dry-run",
        "jobs",
    ]
    assert excinfo.value.exit_code == 2
    assert "many" not in str(excinfo.value) and "maybe" not in str(excinfo.value)


def test_new_inputs_reach_the_copy_options(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(
        monkeypatch,
        source="reg.example/a:1",
        destinations="reg.example/b:1",
        protect="v*, stable\nprod-*",
        referrer_types="application/spdx+json",
        require_referrers="application/vnd.dev.sigstore.bundle.v0.3+json\napplication/spdx+json",
    )
    options = read_inputs().copy_options()
    assert options.protect == ("v*", "stable", "prod-*")
    assert options.referrers is True
    assert options.referrer_types == ("application/spdx+json",)
    assert options.require_referrers == (
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/spdx+json",
    )


def test_an_artifact_type_must_look_like_one(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, source="r.example/a:1", destinations="r.example/b:1", require_referrers="signed")
    with pytest.raises(ActionInputError) as excinfo:
        read_inputs()
    assert list(_problems(excinfo)) == ["require-referrers"]


def test_destinations_keep_their_order_and_duplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, source="r.example/a:1", destinations="r.example/b, r.example/c:2\nr.example/b:1")
    inputs = read_inputs()
    assert [str(d) for d in inputs.destinations] == ["r.example/b:1", "r.example/c:2", "r.example/b:1"]
    assert [str(d) for d in inputs.copy_options().destinations] == ["r.example/b:1", "r.example/c:2"]


def test_verify_mode_needs_the_expected_digest_not_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, mode="verify", destinations="r.example/b:1, r.example/c")
    with pytest.raises(ActionInputError) as excinfo:
        read_inputs()
    problems = _problems(excinfo)
    assert list(problems) == ["destinations", "expected-digest"]
    assert "needs a tag or a digest" in problems["destinations"]
    assert "required when mode is verify" in problems["expected-digest"]

    _env(monkeypatch, destinations="r.example/b:1", expected_digest=DIGEST)
    inputs = read_inputs()
    assert inputs.verify and inputs.source is None and inputs.expected == parse_digest(DIGEST)


def test_a_401_names_the_inputs_that_supply_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, source="src.example/a:1", destinations="dst.example/b:1, ghcr.io/acme/b:1")
    inputs = read_inputs()

    refused = credential_hint(AuthenticationError("x", registry="dst.example", credentials_sent=True), inputs)
    assert "refused" in refused and "destination-username/destination-password" in refused
    assert "source-username" not in refused

    missing = credential_hint(AuthenticationError("x", registry="src.example"), inputs)
    assert "no credentials" in missing and "source-username/source-password" in missing
    assert "docker/login-action" in missing and "destination-username" not in missing

    ghcr = credential_hint(AuthenticationError("x", registry="ghcr.io"), inputs)
    assert "github-token" in ghcr
