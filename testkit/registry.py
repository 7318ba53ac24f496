"""Start real CNCF distribution (`docker-registry` 2.8.2) processes for integration tests.

Why the access log and not the JSON app log: 2.8.2 writes two logs.

* stderr: the logrus app log (``log.formatter: json``). It has a ``"response completed"``
  (or ``"response completed with error"``) entry with ``http.request.method``/``uri``/
  ``http.response.status``/``written`` per request -- but *not* for requests rejected by
  auth: a 401 only produces a ``"error authorizing context"`` warning without a status.
* stdout: the gorilla "combined" access log (``log.accesslog.disabled: false``), exactly one
  line per HTTP request, 401s included, written before the response is finished.

So :meth:`RunningRegistry.access_log` parses stdout (saved to ``access_log_path``); stderr
is kept in ``log_path`` for debugging and :meth:`RunningRegistry.app_log`. Note that for a
HEAD request ``bytes_written`` counts the body the handler wrote even though none was sent.

To make reads complete and deterministic, every read first sends a *sync* request tagged
with a unique User-Agent and waits until that line shows up; harness requests (sync and
readiness probes) are filtered out of the results.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import bcrypt
import httpx
import trustme

from .token_server import TokenServer

AuthMode = Literal["htpasswd", "token"]

REGISTRY_BINARY = "docker-registry"
HARNESS_USER_AGENT = "oci-promote-test-harness"
DEFAULT_USERNAME = "promoter"
DEFAULT_PASSWORD = "s3cret-Passw0rd"
#: A non-loopback name on the TLS certificate, so clients use HTTPS as for any real
#: registry; tests resolve it to 127.0.0.1 in-process (see tests/integration/test_tls.py).
TLS_TEST_HOSTNAME = "registry.test"

# gorilla/handlers combined log: host - user [time] "METHOD URI PROTO" status size "ref" "ua"
_COMBINED = re.compile(
    r'^\S+ - \S+ \[[^\]]*\] "(?P<method>\S+) (?P<uri>\S+) [^"]*" '
    r'(?P<status>\d{3}) (?P<size>\d+) "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)"$'
)


def free_port() -> int:
    """An unused loopback TCP port (racy by nature; start_registry retries on a clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class AccessEntry:
    """One HTTP request as seen by the registry."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    bytes_written: int
    uri: str
    user_agent: str


@dataclass(frozen=True)
class LogMark:
    """Opaque position in a registry's access log, from :meth:`RunningRegistry.mark`."""

    index: int


def parse_access_line(line: str) -> AccessEntry | None:
    """Parse one combined-log line; None for anything else."""
    match = _COMBINED.match(line.strip())
    if match is None:
        return None
    parts = urlsplit(match["uri"])
    return AccessEntry(
        method=match["method"],
        path=parts.path,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        status=int(match["status"]),
        bytes_written=int(match["size"]),
        uri=match["uri"],
        user_agent=match["ua"],
    )


@dataclass
class RunningRegistry:
    """A live registry process and what a test needs to talk to it and inspect it."""

    host: str
    url: str
    storage: Path
    log_path: Path
    access_log_path: Path
    config_path: Path
    process: subprocess.Popen[bytes]
    username: str | None = None
    password: str | None = None
    token_server: TokenServer | None = None
    ca_pem_path: Path | None = None
    _files: list[Any] = field(default_factory=list, repr=False)

    @property
    def creds(self) -> tuple[str, str] | None:
        """(username, password) when auth is on."""
        if self.username is None or self.password is None:
            return None
        return self.username, self.password

    def ref(self, repo: str, tag: str = "latest") -> str:
        """``host/repo:tag`` for skopeo and the CLI under test."""
        return f"{self.host}/{repo}:{tag}"

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client for this registry (trusts its CA when TLS is on)."""
        kwargs.setdefault("timeout", 10)
        kwargs.setdefault("trust_env", False)  # never route loopback through a proxy
        if self.ca_pem_path is not None:
            kwargs.setdefault("verify", ssl.create_default_context(cafile=self.ca_pem_path))
        return httpx.Client(base_url=self.url, **kwargs)

    def _sync(self, timeout: float = 5.0) -> None:
        """Send a tagged request and wait for its access-log line, so earlier lines are in."""
        marker = f"{HARNESS_USER_AGENT} sync {uuid.uuid4().hex}"
        with self.client(headers={"User-Agent": marker}) as client:
            client.get("/v2/")
        deadline = time.monotonic() + timeout
        while marker not in self.access_log_path.read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise AssertionError(f"registry access log never showed sync request {marker}")
            time.sleep(0.005)

    def access_log(self) -> list[AccessEntry]:
        """All requests so far, oldest first, excluding the harness's own requests."""
        self._sync()
        entries = []
        for line in self.access_log_path.read_text(errors="replace").splitlines():
            entry = parse_access_line(line)
            if entry is not None and not entry.user_agent.startswith(HARNESS_USER_AGENT):
                entries.append(entry)
        return entries

    def mark(self) -> LogMark:
        """Remember the current end of the access log."""
        return LogMark(len(self.access_log()))

    def requests_since(self, mark: LogMark) -> list[AccessEntry]:
        """Requests made after :meth:`mark` was taken."""
        return self.access_log()[mark.index :]

    def app_log(self) -> list[dict[str, Any]]:
        """The registry's JSON app log (stderr) as dicts, for debugging/asserting errors."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                out.append(json.loads(line))
        return out

    def stop(self) -> None:
        """Kill the process (and token server); safe to call twice."""
        stop_process(self.process, self._files)
        if self.token_server is not None:
            self.token_server.stop()

    def __enter__(self) -> RunningRegistry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def stop_process(process: subprocess.Popen[bytes], files: list[Any]) -> None:
    """Terminate a server process (killed after 5 s) and close its log files; safe twice."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for handle in files:
        handle.close()
    files.clear()


def _write_htpasswd(path: Path, username: str, password: str) -> None:
    # Cost 4 (Go's minimum) keeps each authenticated request cheap; 2.8.2 accepts $2b$.
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    path.write_text(f"{username}:{hashed}\n")


def _registry_env() -> dict[str, str]:
    """The parent env minus REGISTRY_* variables, which would override our config file."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


def _die_with_parent() -> None:
    """Linux: SIGKILL the registry if the test process dies without tearing down."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_registry(
    tmp_path: Path,
    *,
    auth: AuthMode | None = None,
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    token_ttl_seconds: int = 300,
    token_advertised_ttl_seconds: int | None = None,
    anonymous_pull: bool = False,
    strict_token_expiry: bool = False,
    tls: bool = False,
    startup_timeout: float = 15.0,
) -> RunningRegistry:
    """Start a registry in a fresh directory under ``tmp_path`` and wait until it serves.

    Use as ``with start_registry(...) as reg:`` or call :meth:`RunningRegistry.stop`.
    ``anonymous_pull`` and ``strict_token_expiry`` only apply to ``auth="token"``.
    """
    binary = shutil.which(REGISTRY_BINARY)
    if binary is None:
        raise RuntimeError(f"{REGISTRY_BINARY} is not on PATH")
    tmp_path.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="registry-", dir=tmp_path))
    storage = workdir / "storage"
    storage.mkdir()

    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "json", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
        },
        "http": {"secret": secrets.token_hex(16)},
        # Accept foreign (non-distributable) layers that live at http(s) URLs, as Docker Hub
        # does for Windows base layers; 2.8.2 refuses every URL unless allowed here.
        "validation": {"manifests": {"urls": {"allow": ["^https?://"]}}},
    }
    token_server: TokenServer | None = None
    ca_pem_path: Path | None = None
    if auth == "htpasswd":
        htpasswd = workdir / "htpasswd"
        _write_htpasswd(htpasswd, username, password)
        config["auth"] = {"htpasswd": {"realm": "basic-realm", "path": str(htpasswd)}}
    elif auth == "token":
        token_server = TokenServer(
            workdir=workdir,
            users={username: password},
            ttl_seconds=token_ttl_seconds,
            advertised_ttl_seconds=token_advertised_ttl_seconds,
            anonymous_pull=anonymous_pull,
            strict_expiry=strict_token_expiry,
        ).start()
        config["auth"] = {
            "token": {
                "realm": token_server.realm,
                "service": token_server.service,
                "issuer": token_server.issuer,
                "rootcertbundle": str(token_server.cert_pem_path),
            }
        }
    elif auth is not None:
        raise ValueError(f"unknown auth mode {auth!r}")
    if tls:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1", TLS_TEST_HOSTNAME)
        ca_pem_path = workdir / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_pem_path))
        cert.private_key_pem.write_to_path(str(workdir / "key.pem"))
        with (workdir / "cert.pem").open("wb") as chain:
            for blob in cert.cert_chain_pems:
                chain.write(blob.bytes())
        config["http"]["tls"] = {
            "certificate": str(workdir / "cert.pem"),
            "key": str(workdir / "key.pem"),
        }

    try:
        for _attempt in range(3):
            port = free_port()
            config["http"]["addr"] = f"127.0.0.1:{port}"
            reg = _launch(binary, workdir, config, port, tls, ca_pem_path, startup_timeout)
            if reg is not None:
                if auth is not None:
                    reg.username, reg.password = username, password
                reg.token_server = token_server
                return reg
        raise RuntimeError("could not find a free port for docker-registry after 3 attempts")
    except BaseException:
        if token_server is not None:
            token_server.stop()
        raise


def _launch(
    binary: str,
    workdir: Path,
    config: dict[str, Any],
    port: int,
    tls: bool,
    ca_pem_path: Path | None,
    startup_timeout: float,
) -> RunningRegistry | None:
    """Start one process; None if the port was taken meanwhile (caller retries)."""
    config_path = workdir / "config.yml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML
    log_path = workdir / "registry.log"
    access_log_path = workdir / "access.log"
    stdout = access_log_path.open("wb")
    stderr = log_path.open("wb")
    process = subprocess.Popen(
        [binary, "serve", str(config_path)],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=_registry_env(),
        cwd=workdir,
        preexec_fn=_die_with_parent,
    )
    scheme = "https" if tls else "http"
    reg = RunningRegistry(
        host=f"127.0.0.1:{port}",
        url=f"{scheme}://127.0.0.1:{port}",
        storage=Path(config["storage"]["filesystem"]["rootdirectory"]),
        log_path=log_path,
        access_log_path=access_log_path,
        config_path=config_path,
        process=process,
        ca_pem_path=ca_pem_path,
        _files=[stdout, stderr],
    )
    try:
        _wait_until_up(reg, startup_timeout)
        # Whoever answered must be *our* process: its access log must show our request.
        reg._sync(timeout=startup_timeout)
    except Exception:
        reg.stop()
        if "address already in use" in log_path.read_text(errors="replace"):
            return None
        raise
    return reg


def _wait_until_up(reg: RunningRegistry, timeout: float) -> None:
    """Poll ``/v2/`` until it answers 200 or 401; raise with stderr if the process dies."""
    deadline = time.monotonic() + timeout
    headers = {"User-Agent": f"{HARNESS_USER_AGENT} readiness"}
    with reg.client(headers=headers, timeout=1) as client:
        while True:
            code = reg.process.poll()
            if code is not None:
                stderr = reg.log_path.read_text(errors="replace")
                raise RuntimeError(f"docker-registry exited with {code} during startup; stderr:\n{stderr}")
            try:
                if client.get("/v2/").status_code in (200, 401):
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                stderr = reg.log_path.read_text(errors="replace")
                raise RuntimeError(
                    f"docker-registry did not answer /v2/ within {timeout}s; stderr:\n{stderr}"
                )
            time.sleep(0.01)
