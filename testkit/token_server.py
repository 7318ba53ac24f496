"""A minimal Docker token-auth server for a real `docker-registry` to trust.

It implements the GET side of the Docker token protocol
(https://distribution.github.io/distribution/spec/auth/token/): the registry answers 401 with
``Bearer realm=...,service=...,scope=...``, the client fetches ``GET /token?service=&scope=``
(optionally with Basic credentials) and retries with ``Authorization: Bearer <jwt>``.

Tokens are ES256 JWTs with an ``x5c`` header holding a self-signed certificate; the registry
is configured with that same certificate as ``rootcertbundle``. Distribution 2.8.2 verifies
iss, aud (a single string equal to ``service``), exp and nbf -- both with a fixed 60 s
leeway -- and the x5c chain against the bundle.

Every request is recorded in :attr:`TokenServer.requests` so tests can assert on token
fetching and caching behaviour.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .http_thread import LoopbackHTTPServer

#: distribution 2.8.2 accepts a token up to this long after its ``exp`` (token.Leeway).
REGISTRY_LEEWAY_SECONDS = 60


@dataclass(frozen=True)
class TokenRequest:
    """One request received by the token server."""

    method: str
    path: str
    query: dict[str, list[str]]
    authorization_present: bool
    username: str | None
    status: int

    @property
    def scopes(self) -> list[str]:
        return self.query.get("scope", [])

    @property
    def service(self) -> str | None:
        return self.query.get("service", [None])[0]


@dataclass(frozen=True)
class Scope:
    """A parsed ``type:name:actions`` scope string (name may contain ``/``)."""

    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, raw: str) -> Scope:
        kind, _, rest = raw.partition(":")
        name, _, actions = rest.rpartition(":")
        return cls(kind, name, tuple(a for a in actions.split(",") if a))


def _self_signed_cert(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """A CA-flagged self-signed certificate, so Go's x509 verify accepts it as a root."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oci-promote test token issuer")])
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


@dataclass
class TokenServer:
    """Threaded token server on a loopback port; use :meth:`start` / :meth:`stop`.

    ``users`` maps username -> password. An authenticated user is granted every requested
    action unless ``allowed_actions[user]`` restricts it. Anonymous requests get a token with
    only ``pull`` when ``anonymous_pull`` is set, otherwise a token with no access at all
    (which is what Docker Hub does: enough for ``/v2/``, nothing for a repository).

    ``strict_expiry`` subtracts the registry's 60 s leeway from ``exp`` so the registry
    really rejects the token ``ttl_seconds`` (rounded up to a whole second) after issue.
    """

    workdir: Path
    users: Mapping[str, str] = field(default_factory=dict)
    service: str = "oci-promote-test-registry"
    issuer: str = "oci-promote-test-issuer"
    ttl_seconds: int = 300
    #: The `expires_in` to announce, when it should differ from the real lifetime (a token
    #: server that overstates it makes clients meet expired tokens as 401s).
    advertised_ttl_seconds: int | None = None
    anonymous_pull: bool = False
    strict_expiry: bool = False
    allowed_actions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    requests: list[TokenRequest] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = _self_signed_cert(self._key)
        self.cert_pem_path = self.workdir / "token-issuer.pem"
        self.cert_pem_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()
        self._http: LoopbackHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> TokenServer:
        self._http = LoopbackHTTPServer(self._handler_class(), "token-server")
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None

    @property
    def port(self) -> int:
        assert self._http is not None, "token server not started"
        return self._http.port

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    # -- inspection ------------------------------------------------------------------------

    def recorded(self) -> list[TokenRequest]:
        """A snapshot of the requests received so far."""
        with self._lock:
            return list(self.requests)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- token issuing ---------------------------------------------------------------------

    def issue_token(
        self, subject: str, access: list[dict[str, Any]], *, ttl_seconds: int | None = None
    ) -> str:
        """Sign a registry token; public so tests can craft tokens by hand."""
        ttl = self.ttl_seconds if ttl_seconds is None else ttl_seconds
        now = time.time()
        exp = math.ceil(now) + ttl
        if self.strict_expiry:
            exp -= REGISTRY_LEEWAY_SECONDS
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": exp,
            "nbf": int(now),
            "iat": int(now),
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"x5c": [self._x5c]})

    def _grant(self, user: str | None, scopes: list[str]) -> list[dict[str, Any]]:
        access: list[dict[str, Any]] = []
        for raw in scopes:
            for part in raw.split(" "):  # some clients join several scopes with spaces
                if not part:
                    continue
                scope = Scope.parse(part)
                if user is None:
                    allowed = frozenset({"pull"}) if self.anonymous_pull else frozenset()
                else:
                    allowed = self.allowed_actions.get(user, frozenset(scope.actions))
                actions = [a for a in scope.actions if a in allowed]
                if actions:
                    access.append({"type": scope.type, "name": scope.name, "actions": actions})
        return access

    def _authenticate(self, header: str | None) -> tuple[bool, str | None]:
        """Return (ok, username); no header means anonymous (ok, None)."""
        if header is None:
            return True, None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False, None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False, None
        return self.users.get(user) == password, user

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                auth_header = self.headers.get("Authorization")
                ok, user = server._authenticate(auth_header)
                body: dict[str, Any]
                if parts.path != "/token":
                    status, body = 404, {"details": "not found"}
                elif not ok:
                    status, body = 401, {"details": "invalid credentials"}
                else:
                    token = server.issue_token(user or "", server._grant(user, query.get("scope", [])))
                    status = 200
                    body = {
                        "token": token,
                        "access_token": token,
                        "expires_in": server.advertised_ttl_seconds or server.ttl_seconds,
                        "issued_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                    }
                with server._lock:
                    server.requests.append(
                        TokenRequest("GET", parts.path, query, auth_header is not None, user, status)
                    )
                self._send(status, body)

            def do_POST(self) -> None:
                """OAuth2 POST is not implemented; record it so a test can notice its use."""
                parts = urlsplit(self.path)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server._lock:
                    server.requests.append(
                        TokenRequest(
                            "POST",
                            parts.path,
                            parse_qs(parts.query),
                            self.headers.get("Authorization") is not None,
                            None,
                            405,
                        )
                    )
                self._send(405, {"details": "only GET is supported"})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="token-server"')
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean; requests are recorded instead

        return Handler
