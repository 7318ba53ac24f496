"""Tests of the test harness itself, against real docker-registry and skopeo processes."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography import x509

from testkit.registry import AccessEntry, RunningRegistry, parse_access_line
from testkit.skopeo import copy_all_to_oci, copy_oci_to_registry, inspect_raw
from tests.conftest import RegistryFactory


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push_blob(client: httpx.Client, repo: str, data: bytes, headers: dict[str, str] | None = None) -> str:
    """Monolithic blob upload: POST to start, PUT ?digest= to finish (keeps ``_state``)."""
    start = client.post(f"/v2/{repo}/blobs/uploads/", headers=headers)
    assert start.status_code == 202, start.text
    digest = _digest(data)
    # copy_merge_params keeps the registry's own query (_state); params= would replace it.
    url = httpx.URL(start.headers["Location"]).copy_merge_params({"digest": digest})
    put = client.put(
        url, content=data, headers={"Content-Type": "application/octet-stream", **(headers or {})}
    )
    assert put.status_code == 201, put.text
    return digest


def _bearer_challenge(header: str) -> dict[str, str]:
    scheme, _, params = header.partition(" ")
    assert scheme == "Bearer", header
    return dict((key, value.strip('"')) for key, _, value in (p.partition("=") for p in params.split(",")))


def _summary(entries: list[AccessEntry]) -> list[tuple[str, str, int]]:
    return [(e.method, e.path, e.status) for e in entries]


def test_parse_access_line_handles_query_and_escaped_quotes() -> None:
    line = (
        '127.0.0.1 - - [22/Nov/2026:14:04:07 +0000] "PUT /v2/a/b/blobs/uploads/u?_state=x%3D'
        '&digest=sha256%3Aab HTTP/1.1" 201 0 "" "agent \\"quoted\\" 1.0"'
    )
    entry = parse_access_line(line)
    assert entry is not None
    assert (entry.method, entry.path, entry.status, entry.bytes_written) == (
        "PUT",
        "/v2/a/b/blobs/uploads/u",
        201,
        0,
    )
    assert entry.query == {"_state": "x=", "digest": "sha256:ab"}
    assert entry.user_agent == 'agent \\"quoted\\" 1.0'
    assert parse_access_line('{"level":"info","msg":"listening"}') is None


def test_blob_push_shows_in_access_log(registry: RunningRegistry) -> None:
    with registry.client() as client:
        assert client.get("/v2/").status_code == 200  # before the mark: must not be reported
        mark = registry.mark()
        digest = _push_blob(client, "harness/blob", b"hello harness")
        head = client.head(f"/v2/harness/blob/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == digest

    entries = registry.requests_since(mark)
    assert [(e.method, e.status) for e in entries] == [("POST", 202), ("PUT", 201), ("HEAD", 200)]
    post, put, _ = entries
    assert post.path == "/v2/harness/blob/blobs/uploads/"
    assert put.path.startswith("/v2/harness/blob/blobs/uploads/")
    assert put.query["digest"] == digest
    assert "_state" in put.query
    # A second read is stable: nothing new appears, harness sync requests are hidden.
    assert registry.requests_since(mark) == entries


def test_access_log_records_404_with_body_size(registry: RunningRegistry) -> None:
    mark = registry.mark()
    with registry.client() as client:
        assert client.get("/v2/harness/none/manifests/nope").status_code == 404
    [entry] = registry.requests_since(mark)
    assert _summary([entry]) == [("GET", "/v2/harness/none/manifests/nope", 404)]
    assert entry.bytes_written > 0


def test_htpasswd_registry_requires_credentials(basic_registry: RunningRegistry) -> None:
    assert basic_registry.creds is not None
    user, password = basic_registry.creds
    mark = basic_registry.mark()
    with basic_registry.client() as client:
        anonymous = client.get("/v2/")
        good = client.get("/v2/", auth=(user, password))
        bad = client.get("/v2/", auth=(user, password + "x"))
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="basic-realm"'
    assert good.status_code == 200
    assert bad.status_code == 401
    assert [e.status for e in basic_registry.requests_since(mark)] == [401, 200, 401]


def test_token_registry_challenge_token_and_push(token_registry: RunningRegistry) -> None:
    server = token_registry.token_server
    assert server is not None and token_registry.creds is not None
    with token_registry.client() as client:
        challenge = client.get("/v2/")
        assert challenge.status_code == 401
        params = _bearer_challenge(challenge.headers["WWW-Authenticate"])
        assert params == {"realm": server.realm, "service": server.service}

        scope = "repository:harness/tok:pull,push"
        reply = httpx.get(
            params["realm"],
            params={"service": params["service"], "scope": scope},
            auth=token_registry.creds,
            trust_env=False,
        )
        assert reply.status_code == 200
        body = reply.json()
        assert body["token"] == body["access_token"]
        assert body["expires_in"] == 300
        bearer = {"Authorization": f"Bearer {body['token']}"}
        assert client.get("/v2/", headers=bearer).status_code == 200
        digest = _push_blob(client, "harness/tok", b"token blob", bearer)
        assert client.head(f"/v2/harness/tok/blobs/{digest}", headers=bearer).status_code == 200
        # The token is scoped: another repository is refused.
        assert client.head(f"/v2/other/blobs/{digest}", headers=bearer).status_code == 401

    [request] = server.recorded()
    assert (request.method, request.path, request.status) == ("GET", "/token", 200)
    assert request.authorization_present and request.username == token_registry.username
    assert request.scopes == [scope] and request.service == server.service

    cert = x509.load_pem_x509_certificate(server.cert_pem_path.read_bytes())
    claims = jwt.decode(
        body["token"],
        cert.public_key(),  # type: ignore[arg-type]
        algorithms=["ES256"],
        audience=server.service,
        issuer=server.issuer,
    )
    assert claims["access"] == [{"type": "repository", "name": "harness/tok", "actions": ["pull", "push"]}]
    assert {"sub", "exp", "nbf", "iat", "jti"} <= claims.keys()
    assert "x5c" in jwt.get_unverified_header(body["token"])


def test_token_server_rejects_bad_password(token_registry: RunningRegistry) -> None:
    server = token_registry.token_server
    assert server is not None
    reply = httpx.get(server.realm, params={"service": server.service}, auth=("nobody", "x"), trust_env=False)
    assert reply.status_code == 401
    assert [(r.username, r.status) for r in server.recorded()] == [("nobody", 401)]


@pytest.mark.parametrize("anonymous_pull", [False, True])
def test_token_anonymous_access(registry_factory: RegistryFactory, anonymous_pull: bool) -> None:
    reg = registry_factory(auth="token", anonymous_pull=anonymous_pull)
    server = reg.token_server
    assert server is not None
    scope = "repository:harness/anon:pull,push"
    token = httpx.get(
        server.realm, params={"service": server.service, "scope": scope}, trust_env=False
    ).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    with reg.client(headers=bearer) as client:
        assert client.get("/v2/").status_code == 200  # any valid token passes /v2/
        pull = client.head(f"/v2/harness/anon/blobs/{_digest(b'x')}")
        push = client.post("/v2/harness/anon/blobs/uploads/")
    # 404 means authorized-but-absent; 401 means the token lacks the scope.
    assert pull.status_code == (404 if anonymous_pull else 401)
    assert push.status_code == 401
    assert not server.recorded()[0].authorization_present


def test_short_strict_tokens_really_expire(registry_factory: RegistryFactory) -> None:
    """strict_token_expiry cancels distribution's 60 s leeway, so 2 s tokens die at 2 s."""
    reg = registry_factory(auth="token", token_ttl_seconds=2, strict_token_expiry=True)
    server = reg.token_server
    assert server is not None
    reply = httpx.get(
        server.realm, params={"service": server.service}, auth=reg.creds, trust_env=False
    ).json()
    assert reply["expires_in"] == 2
    bearer = {"Authorization": f"Bearer {reply['token']}"}
    with reg.client(headers=bearer) as client:
        assert client.get("/v2/").status_code == 200
        time.sleep(3.1)
        assert client.get("/v2/").status_code == 401


def test_tls_registry_serves_https_with_its_ca(registry_factory: RegistryFactory) -> None:
    reg = registry_factory(tls=True)
    assert reg.url.startswith("https://127.0.0.1:") and reg.ca_pem_path is not None
    with reg.client() as client:
        assert client.get("/v2/").status_code == 200
    with pytest.raises(httpx.ConnectError), httpx.Client(trust_env=False) as untrusting:
        untrusting.get(f"{reg.url}/v2/")


def test_stop_kills_the_process(registry_factory: RegistryFactory) -> None:
    reg = registry_factory()
    reg.stop()
    assert reg.process.poll() is not None
    with pytest.raises(httpx.ConnectError), httpx.Client(trust_env=False) as client:
        client.get(f"{reg.url}/v2/")
    reg.stop()  # idempotent


def _layout_digest(layout: Path, ref_name: str) -> str:
    index = json.loads((layout / "index.json").read_text())
    [digest] = {
        m["digest"]
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref_name
    }
    return str(digest)


def test_skopeo_seeding_preserves_digest(
    registry: RunningRegistry, fixtures_dir: Path, tmp_path: Path
) -> None:
    layout = fixtures_dir / "regclient-testrepo"
    expected = _layout_digest(layout, "v3")
    ref = registry.ref("seed/testrepo", "v3")

    copy_oci_to_registry(layout, "v3", ref)
    raw = inspect_raw(ref)
    assert _digest(raw) == expected
    algo, hexdigest = expected.split(":")
    assert raw == (layout / "blobs" / algo / hexdigest).read_bytes()
    assert inspect_raw(f"{registry.host}/seed/testrepo@{expected}") == raw

    copy_all_to_oci(ref, tmp_path / "out")
    assert _layout_digest(tmp_path / "out", "v3") == expected


def test_skopeo_against_auth_registries(
    basic_registry: RunningRegistry, token_registry: RunningRegistry, fixtures_dir: Path
) -> None:
    layout = fixtures_dir / "regclient-testrepo"
    expected = _layout_digest(layout, "v3")
    for reg in (basic_registry, token_registry):
        ref = reg.ref("seed/auth", "v3")
        copy_oci_to_registry(layout, "v3", ref, creds=reg.creds)
        assert _digest(inspect_raw(ref, creds=reg.creds)) == expected
        with pytest.raises(AssertionError, match="skopeo failed"):
            inspect_raw(ref)  # anonymous must be refused
    assert token_registry.token_server is not None
    assert token_registry.token_server.recorded()  # skopeo went through the token server
