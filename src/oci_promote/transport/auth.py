"""The registry challenge/response flow as an httpx.Auth.

A request's scope is read off its own URL (`/v2/<name>/...`, plus the mount
`from=`), widened by what the caller declared it will need for that repository,
so one token covers the HEADs and the pushes of a destination. Tokens are cached
per scope and renewed shortly before they expire. Once a registry is known to
want Basic or Bearer, credentials are sent up front and the 401 round trip is
saved; a request sent before that was learnt is still answered with credentials.
Credentials only ever go to the registry itself and its token realm, and
never to a plain-HTTP realm of an HTTPS registry.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from urllib.parse import parse_qs

import httpx

from ..errors import AuthenticationError, PromoteError
from .challenge import Challenge, parse_challenges
from .credentials import Credential

_REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags|referrers)/")
#: Renew a token this many seconds before it expires, so it never lapses mid-request.
_RENEW_MARGIN = 10.0
_DEFAULT_TOKEN_SECONDS = 60.0


@dataclass
class _Token:
    value: str
    expires_at: float


class RegistryAuth(httpx.Auth):
    def __init__(self, registry: str, credential: Credential | None) -> None:
        self.registry = registry
        self.credential = credential
        self._needs: dict[str, set[str]] = {}
        self._extra_scopes: dict[str, set[str]] = {}
        self._scheme: str | None = None
        self._bearer: Challenge | None = None
        self._tokens: dict[frozenset[str], _Token] = {}
        #: Why there is no credential although the Docker config promised one (a missing
        #: helper); raised when the registry asks for credentials, never before.
        self.unavailable: PromoteError | None = None

    def declare(self, repository: str, actions: str, *, also: tuple[str, ...] = ()) -> None:
        """Say up front what a repository will need (`pull` or `pull,push`), plus extra scopes."""
        self._needs.setdefault(repository, set()).update(actions.split(","))
        self._extra_scopes.setdefault(repository, set()).update(also)

    def scopes_for(self, request: httpx.Request) -> frozenset[str]:
        match = _REPO_PATH.match(request.url.path)
        if not match:
            return frozenset()
        name = match["name"]
        actions = set(self._needs.get(name, set()))
        actions.add("pull")
        if request.method not in ("GET", "HEAD"):
            actions.add("push")
        scopes = {f"repository:{name}:{','.join(sorted(actions))}"}
        scopes |= self._extra_scopes.get(name, set())
        for source in parse_qs(request.url.query.decode()).get("from", []):
            scopes.add(f"repository:{source}:pull")
        return frozenset(scopes)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        scopes = self.scopes_for(request)
        if self._scheme == "bearer" and self._bearer is not None and not self._has_token(scopes):
            token_response = yield self._token_request(self._bearer, scopes, request.url)
            await token_response.aread()
            self._store_token(token_response, scopes)
        self._authorize(request, scopes)
        sent_with = request.headers.get("Authorization")
        response = yield request
        if response.status_code != 401:
            return
        challenge = _pick(parse_challenges(response.headers.get("www-authenticate", "")))
        if challenge is None:
            return
        if challenge.scheme == "basic":
            if self.credential is None and self.unavailable is not None:
                raise self.unavailable
            if self.credential is None or sent_with == _basic(self.credential):
                # Nothing new to offer: let the 401 surface. A request that went out before
                # Basic was known (several first requests at once) is retried like the first.
                return
            self._scheme = "basic"
        else:
            # A 401 with a cached token means it lapsed or was revoked: fetch anew.
            self._scheme, self._bearer = "bearer", challenge
            wanted = _with_challenge_scope(scopes, challenge.params.get("scope", ""))
            await response.aread()
            token_response = yield self._token_request(challenge, wanted, request.url)
            await token_response.aread()
            self._store_token(token_response, scopes)
        self._authorize(request, scopes)
        yield request

    def _has_token(self, scopes: frozenset[str]) -> bool:
        token = self._tokens.get(scopes)
        return token is not None and token.expires_at > time.monotonic()

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("RegistryAuth is used with httpx.AsyncClient only")

    def _authorize(self, request: httpx.Request, scopes: frozenset[str]) -> None:
        if self._scheme == "basic" and self.credential is not None:
            request.headers["Authorization"] = _basic(self.credential)
        elif self._scheme == "bearer":
            token = self._tokens.get(scopes)
            if token is not None:
                request.headers["Authorization"] = f"Bearer {token.value}"

    def _token_request(
        self, challenge: Challenge, scopes: frozenset[str], origin: httpx.URL
    ) -> httpx.Request:
        realm = challenge.params.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise AuthenticationError(
                f"{self.registry} sent a Bearer challenge without a usable realm",
                registry=self.registry,
            )
        if origin.scheme == "https" and not realm.startswith("https://"):
            raise AuthenticationError(
                f"{self.registry} (HTTPS) sent its token realm on plain HTTP ({httpx.URL(realm).host}); "
                "refusing to send credentials there unencrypted",
                registry=self.registry,
                credentials_sent=False,
            )
        params: list[tuple[str, str | int | float | bool | None]] = []
        if "service" in challenge.params:
            params.append(("service", challenge.params["service"]))
        params += [("scope", s) for s in sorted(scopes)]
        headers = {}
        credential = self.credential
        if credential is not None and credential.is_identity_token:
            # An identity token (e.g. from `docker login` to some registries) is an
            # OAuth2 refresh token: exchange it with a POST, as the docker CLI does.
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credential.password.get_secret_value(),
                "client_id": "oci-promote",
                "service": challenge.params.get("service", ""),
                "scope": " ".join(sorted(scopes)),
            }
            return httpx.Request("POST", realm, data=form)
        if credential is not None:
            headers["Authorization"] = _basic(credential)
        return httpx.Request("GET", realm, params=params, headers=headers)

    def _store_token(self, response: httpx.Response, scopes: frozenset[str]) -> None:
        if response.status_code in (401, 403):
            if self.credential is None and self.unavailable is not None:
                raise self.unavailable  # anonymous was worth a try (public images); now say why
            raise AuthenticationError(
                f"the token service for {self.registry} refused the credentials (HTTP {response.status_code})"
                if self.credential
                else f"no credentials for {self.registry}: its token service refused anonymous access "
                f"(HTTP {response.status_code}); log in with `docker login {self.registry}` "
                "or pass credentials",
                registry=self.registry,
                status=response.status_code,
                credentials_sent=self.credential is not None,
            )
        try:
            body = response.json()
            value = body.get("token") or body.get("access_token")
            lifetime = float(body.get("expires_in") or _DEFAULT_TOKEN_SECONDS)
        except (ValueError, AttributeError, TypeError):
            value = None
            lifetime = 0.0
        if response.status_code != 200 or not isinstance(value, str) or not value:
            raise AuthenticationError(
                f"the token service for {self.registry} gave no usable token (HTTP {response.status_code})",
                registry=self.registry,
                status=response.status_code,
            )
        renew_in = max(lifetime - _RENEW_MARGIN, lifetime / 2)
        self._tokens[scopes] = _Token(value, time.monotonic() + renew_in)


def _with_challenge_scope(scopes: frozenset[str], challenge_scope: str) -> frozenset[str]:
    """Add what the registry asked for, unless one of our scopes already covers it."""
    ours = {s.rpartition(":")[0]: set(s.rpartition(":")[2].split(",")) for s in scopes}
    extra = set()
    for scope in challenge_scope.split():
        resource, _, actions = scope.rpartition(":")
        if not resource or not set(actions.split(",")) <= ours.get(resource, set()):
            extra.add(scope)
    return scopes | extra


def _pick(challenges: list[Challenge]) -> Challenge | None:
    """Prefer Bearer (scoped, short-lived) over Basic when a registry offers both."""
    by_scheme = {c.scheme: c for c in challenges}
    return by_scheme.get("bearer") or by_scheme.get("basic")


def _basic(credential: Credential) -> str:
    pair = f"{credential.username}:{credential.password.get_secret_value()}"
    return "Basic " + base64.b64encode(pair.encode()).decode()
