"""Proxy handlers that make a real registry behave like GHCR, ECR, Docker Hub, a CDN-backed
registry, or a bad network. Use with :class:`testkit.proxy.Proxy`::

    with Proxy(registry.url, quirks.ecr()) as proxy: ...

Each factory documents where the behaviour comes from. Handlers run on the proxy's loop
thread, one request at a time, so their own state needs no lock unless shared by proxies.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlencode

import httpx

from .proxy import (
    Action,
    Forward,
    Handler,
    Headers,
    RecordedRequest,
    RecordingServer,
    RequestView,
    Reset,
    Respond,
    ResponseRewrite,
    Source,
    Stall,
    Truncate,
)
from .registry import HARNESS_USER_AGENT

MiB = 1024 * 1024
#: GHCR's per-request body cap (see :func:`ghcr`).
GHCR_MAX_REQUEST_BODY = 4 * MiB

UPLOAD_SESSION = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<session>[^/]+)$")
BLOB = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)$")


def oci_error(
    status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None, label: str = ""
) -> Respond:
    """An OCI distribution-spec error response (``{"errors": [{code, message, detail}]}``)."""
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()
    return Respond(status, {"Content-Type": "application/json", **(headers or {})}, body, label=label)


def chain(*handlers: Handler) -> Handler:
    """Ask every handler (so stateful ones see every request); the first non-Forward wins.

    When all forward, their response rewrites compose in order and the lowest throttles apply.
    """

    def handle(request: RequestView) -> Action:
        actions = [handler(request) for handler in handlers]
        for action in actions:
            if not isinstance(action, Forward):
                return action
        forwards = [a for a in actions if isinstance(a, Forward)]
        rewrites = [a.rewrite_response for a in forwards if a.rewrite_response is not None]

        def rewrite(status: int, headers: Headers) -> tuple[int, Headers]:
            for one in rewrites:
                status, headers = one(status, headers)
            return status, headers

        def lowest(values: list[float | None]) -> float | None:
            return min((v for v in values if v is not None), default=None)

        return Forward(
            rewrite_response=rewrite if rewrites else None,
            request_bytes_per_s=lowest([a.request_bytes_per_s for a in forwards]),
            response_bytes_per_s=lowest([a.response_bytes_per_s for a in forwards]),
            label="+".join(a.label for a in forwards if a.label),
        )

    return handle


# -- GHCR ----------------------------------------------------------------------------------


def ghcr(*, max_request_body: int = GHCR_MAX_REQUEST_BODY, refuse_monolithic: bool = True) -> Handler:
    """GHCR's upload limits.

    * A PATCH or PUT whose Content-Length is over 4 MiB gets **416** with
      ``REQUESTED_RANGE_NOT_SATISFIABLE`` / "the request body is too large and exceeds the
      maximum permissible limit of 4.00MiB" -- GHCR's answer verbatim, as reported in
      oras-project/rust-oci-client#35 (fixed by #37: "GHCR ... limit of 4Mb per chunked
      upload"), wasmCloud/wash#268 and ocx-sh/ocx#237 ("GHCR's 4 MiB per-request cap").
      A chunked-encoded PATCH (no Content-Length: docker's streaming push, which works on
      GHCR for layers of any size) is forwarded.
    * With ``refuse_monolithic``, a PUT carrying a body to a session that saw no PATCH (a
      monolithic upload) is refused the same way, whatever its size. No public report shows
      GHCR refusing a *small* monolithic PUT, so this is stricter than GHCR; it uses GHCR's
      one documented refusal (the cap hits any monolithic PUT of a layer over 4 MiB) so a
      client's fallback to PATCH chunks is exercised with small test blobs and keys on what
      GHCR really sends. The proxy answers without forwarding, so the session stays usable.
    """
    patched: set[str] = set()
    limit = f"{max_request_body / MiB:.2f}MiB"

    def refuse(label: str) -> Respond:
        message = f"the request body is too large and exceeds the maximum permissible limit of {limit}"
        return oci_error(416, "REQUESTED_RANGE_NOT_SATISFIABLE", message, label=label)

    def handle(request: RequestView) -> Action:
        if request.method not in ("PATCH", "PUT") or not UPLOAD_SESSION.match(request.path):
            return Forward()
        if (request.content_length or 0) > max_request_body:
            return refuse("ghcr:body-over-limit")
        if request.method == "PATCH":
            patched.add(request.path)  # distribution keeps the session path across PATCHes
        elif refuse_monolithic and request.has_body and request.path not in patched:
            return refuse("ghcr:monolithic")
        return Forward()

    return handle


# -- ECR -----------------------------------------------------------------------------------


def _drop_digest(status: int, headers: Headers) -> tuple[int, Headers]:
    return status, [(k, v) for k, v in headers if k.lower() != "docker-content-digest"]


def _drop_digest_201(status: int, headers: Headers) -> tuple[int, Headers]:
    status, headers = _drop_digest(status, headers)
    return (201 if status == 202 else status), headers


def ecr() -> Handler:
    """ECR's off-spec answers.

    * A chunk PATCH answers **201 Created** instead of 202 Accepted (aws/containers-roadmap#2831,
      jdx/mise#11376 "AWS ECR returns 201 Created" on PATCH).
    * No ``Docker-Content-Digest`` header on any response. ECR is known to omit it on manifest
      GETs (distribution/distribution#3792, aws/containers-roadmap#1931,
      hashicorp/terraform-provider-docker#186); stripping it everywhere is a superset, so a
      client must compute digests itself.
    """

    def handle(request: RequestView) -> Action:
        rewrite: ResponseRewrite = _drop_digest_201 if request.method == "PATCH" else _drop_digest
        return Forward(rewrite_response=rewrite, label="ecr")

    return handle


# -- Docker Hub ----------------------------------------------------------------------------


def dockerhub(
    rate: float = 0.25,
    *,
    rng: random.Random | None = None,
    retry_after: Literal["0", "1", "date"] = "1",
) -> Handler:
    """Docker Hub rate limiting: a ``rate`` fraction of requests get **429**.

    The body and ``RateLimit-Limit: 100;w=21600`` / ``RateLimit-Remaining: 0;w=21600`` /
    ``Docker-RateLimit-Source`` headers are Hub's pull-limit answer (docs.docker.com
    "Docker Hub rate limit"; ``toomanyrequests: You have reached your pull rate limit``).
    ``Retry-After`` comes from Hub's abuse limiter, which sends it (docker/hub-feedback#1907:
    ``Retry-After: 60``); here it is 0/1 s or an HTTP-date 1 s ahead (``retry_after="date"``)
    so tests stay fast. Draws come from ``rng``, else from the proxy's seeded generator.
    """

    message = (
        "You have reached your pull rate limit. You may increase the limit by authenticating "
        "and upgrading: https://www.docker.com/increase-rate-limit"
    )

    def handle(request: RequestView) -> Action:
        if (rng or request.rng).random() >= rate:
            return Forward()
        after = (
            email.utils.formatdate(math.ceil(time.time()) + 1, usegmt=True)
            if retry_after == "date"
            else retry_after
        )
        headers = {
            "Retry-After": after,
            "RateLimit-Limit": "100;w=21600",
            "RateLimit-Remaining": "0;w=21600",
            "Docker-RateLimit-Source": "127.0.0.1",
        }
        return oci_error(429, "TOOMANYREQUESTS", message, headers=headers, label="dockerhub:429")

    return handle


# -- blob downloads redirected to a CDN ----------------------------------------------------


def redirect_blobs(
    cdn: RecordingServer, *, status: int = 307, require_authorization: bool = False
) -> Handler:
    """Blob GETs answer ``307`` to ``<cdn>/blob/<digest>?repo=<name>``, as Docker Hub (to
    Cloudflare), GHCR (pkg-containers.githubusercontent.com) and ECR (presigned S3) do.

    The CDN must not receive the registry credentials (S3 rejects a presigned URL request
    that also carries Authorization); serve it with :func:`registry_blob_source`. With
    ``require_authorization``, a GET without Authorization is forwarded so an auth-enabled
    registry can challenge first, as real ones do before redirecting.
    """

    def handle(request: RequestView) -> Action:
        match = BLOB.match(request.path)
        if request.method != "GET" or match is None:
            return Forward()
        if require_authorization and "authorization" not in request.headers:
            return Forward()
        location = f"{cdn.url}/blob/{match['digest']}?{urlencode({'repo': match['name']})}"
        return Respond(status, {"Location": location}, label="redirect-blob")

    return handle


def registry_blob_source(registry_url: str, *, auth: Any = None, verify: Any = True) -> Source:
    """A :class:`RecordingServer` source fetching ``/blob/<digest>?repo=`` from the registry
    out of band (none of the client's headers). Its User-Agent is the harness's, so these
    fetches stay out of :meth:`RunningRegistry.access_log`."""

    def source(request: RecordedRequest) -> bytes | None:
        digest = request.path.removeprefix("/blob/")
        repo = request.params.get("repo")
        if not repo or digest == request.path:
            return None
        headers = {"User-Agent": f"{HARNESS_USER_AGENT} cdn"}
        with httpx.Client(auth=auth, verify=verify, trust_env=False, timeout=30, headers=headers) as client:
            response = client.get(f"{registry_url}/v2/{repo}/blobs/{digest}")
        return response.content if response.status_code == 200 else None

    return source


# -- throttling ----------------------------------------------------------------------------


def slow(bytes_per_s: float, *, downloads: bool = False) -> Handler:
    """Throttle upload bodies (and download bodies with ``downloads``) to ``bytes_per_s``,
    e.g. so one upload outlives a 2-second token."""

    def handle(request: RequestView) -> Action:
        return Forward(
            request_bytes_per_s=bytes_per_s if request.has_body else None,
            response_bytes_per_s=bytes_per_s if downloads else None,
            label="slow",
        )

    return handle


# -- seeded fault campaigns ----------------------------------------------------------------

FaultKind = Literal[
    "500", "502", "503", "504", "429", "reset", "reset_download", "reset_upload", "stall", "truncate"
]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "500",
    "502",
    "503",
    "504",
    "429",
    "reset",
    "reset_download",
    "reset_upload",
    "stall",
    "truncate",
)
DEFAULT_FAULT_RATES: dict[FaultKind, float] = {
    "500": 0.02,
    "502": 0.02,
    "503": 0.03,
    "504": 0.02,
    "429": 0.04,
    "reset": 0.03,
    "reset_download": 0.08,
    "reset_upload": 0.08,
    "stall": 0.01,
    "truncate": 0.08,
}


class FaultSchedule:
    """A seeded fault schedule; call it as a proxy handler (see :func:`faults`).

    Each decision is a pure function of (seed, method, request key, occurrence of that key):
    the key is the path with the upload session id replaced by ``*`` plus the ``digest``
    parameter if any, so it does not depend on random upload ids, nor -- except between
    concurrent PATCHes to one repository -- on how concurrent requests interleave.

    ``rates`` gives per-kind probabilities among the requests a kind applies to
    (``reset_download`` to blob GETs, ``truncate`` to GETs, ``reset_upload`` to PUT/PATCH
    with a body; the rest to all); the remainder is forwarded.
    """

    def __init__(
        self,
        seed: int,
        rates: Mapping[FaultKind, float] | None = None,
        *,
        stall_seconds: float = 2.0,
        max_cut_bytes: int = 1 * MiB,
    ) -> None:
        self.seed = seed
        self.rates: dict[FaultKind, float] = dict(DEFAULT_FAULT_RATES if rates is None else rates)
        unknown = set(self.rates) - set(FAULT_KINDS)
        if unknown or sum(self.rates.values()) > 1.0 + 1e-9 or min(self.rates.values(), default=0) < 0:
            raise ValueError(f"bad fault rates {self.rates!r}: kinds are {FAULT_KINDS}, sum <= 1")
        self.stall_seconds = stall_seconds
        self.max_cut_bytes = max_cut_bytes
        self._seen: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    @staticmethod
    def key(request: RequestView) -> str:
        path = UPLOAD_SESSION.sub(lambda m: f"/v2/{m['name']}/blobs/uploads/*", request.path)
        digest = request.params.get("digest")
        return f"{path}?digest={digest}" if digest else path

    def _applies(self, kind: FaultKind, request: RequestView) -> bool:
        if kind == "reset_download":
            return request.method == "GET" and BLOB.match(request.path) is not None
        if kind == "truncate":
            return request.method == "GET"
        if kind == "reset_upload":
            return request.method in ("PUT", "PATCH") and request.has_body
        return True

    def decide(self, request: RequestView, occurrence: int) -> Action:
        """The action for the ``occurrence``-th request (from 0) with this method and key."""
        rng = random.Random(f"{self.seed}|{request.method}|{self.key(request)}|{occurrence}")
        roll, cumulative = rng.random(), 0.0
        for kind in FAULT_KINDS:
            if kind in self.rates and self._applies(kind, request):
                cumulative += self.rates[kind]
                if roll < cumulative:
                    return self._action(kind, rng)
        return Forward(label="fault:none")

    def _action(self, kind: FaultKind, rng: random.Random) -> Action:
        label = f"fault:{kind}"
        cut = rng.randrange(1, self.max_cut_bytes)
        if kind == "429":
            headers = {"Retry-After": rng.choice(("0", "1"))}
            return oci_error(429, "TOOMANYREQUESTS", "injected rate limit", headers=headers, label=label)
        if kind in ("500", "502", "503", "504"):
            return Respond(int(kind), {"Content-Type": "text/plain"}, f"injected {kind}\n".encode(), label)
        if kind == "reset":
            return Reset(label=label)
        if kind == "reset_download":
            return Reset(after_response_bytes=cut, label=label)
        if kind == "reset_upload":
            return Reset(after_request_bytes=cut, label=label)
        if kind == "stall":
            return Stall(self.stall_seconds, label=label)
        return Truncate(cut, label=label)

    def __call__(self, request: RequestView) -> Action:
        with self._lock:
            counter = (request.method, self.key(request))
            occurrence = self._seen[counter]
            self._seen[counter] += 1
        return self.decide(request, occurrence)


def faults(
    seed: int,
    rates: Mapping[FaultKind, float] | None = None,
    *,
    stall_seconds: float = 2.0,
    max_cut_bytes: int = 1 * MiB,
) -> FaultSchedule:
    """A seeded fault campaign handler: forward, 500/502/503/504, 429 with ``Retry-After``
    0 or 1, RST before answering, RST mid-download or mid-upload, a stall of
    ``stall_seconds`` (set the client timeout lower), or a truncated body."""
    return FaultSchedule(seed, rates, stall_seconds=stall_seconds, max_cut_bytes=max_cut_bytes)
