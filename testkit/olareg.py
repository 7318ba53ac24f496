"""Start olareg (github.com/olareg/olareg v0.1.2), a registry with the OCI 1.1 referrers API.

distribution 2.8.2 has no referrers API, so the API side of the referrers work (``GET
/v2/<name>/referrers/<digest>``, ``OCI-Subject`` on a manifest PUT) runs against olareg,
built from the Go module proxy by ``scripts/setup.sh`` into ``.tools/bin`` like the other
Go peers. It serves plain HTTP on a free loopback port, stores in a temporary directory
(``--store-type dir``) and never garbage-collects (``--gc-frequency=-1s``: a test's
untagged referrers must stay where they were written).

olareg writes no access log, so every request goes through the recording proxy of
:mod:`testkit.proxy`: :class:`OlaregRegistry` has the shape of
:class:`testkit.registry.RunningRegistry` (``host``, ``url``, ``ref``, ``client``,
``creds``, ``access_log``, ``mark``, ``requests_since``, ``stop``), with ``host``/``url``
naming the proxy, so the same helpers and Go tools work on either registry. The olareg
process itself is at ``direct_url`` (the proxy's upstream), for a proxy of a test's own.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import httpx

from .proxy import Handler, Proxy
from .registry import HARNESS_USER_AGENT, AccessEntry, LogMark, _die_with_parent, free_port, stop_process
from .versions import go_binary


@dataclass
class OlaregRegistry:
    """A live olareg process behind a recording proxy."""

    direct_url: str
    storage: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    proxy: Proxy
    username: str | None = None
    password: str | None = None
    _files: list[Any] = field(default_factory=list, repr=False)

    @property
    def host(self) -> str:
        return self.proxy.host

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def creds(self) -> tuple[str, str] | None:
        return None

    def ref(self, repo: str, tag: str = "latest") -> str:
        return f"{self.host}/{repo}:{tag}"

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client through the proxy; harness requests are left out of the access log
        (give them the harness User-Agent, as here by default)."""
        kwargs.setdefault("timeout", 10)
        kwargs.setdefault("trust_env", False)
        headers = {"User-Agent": f"{HARNESS_USER_AGENT} client", **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.url, headers=headers, **kwargs)

    def set_handler(self, handler: Handler | None) -> None:
        """Put a quirk in front of olareg (see :mod:`testkit.quirks`)."""
        self.proxy.set_handler(handler)

    def access_log(self) -> list[AccessEntry]:
        """Every request the proxy passed on, oldest first, without the harness's own."""
        out = []
        for ex in self.proxy.exchanges():
            agent = ex.request_headers.get("user-agent", "")
            if agent.startswith(HARNESS_USER_AGENT):
                continue
            uri = f"{ex.path}?{ex.query}" if ex.query else ex.path
            out.append(
                AccessEntry(
                    method=ex.method,
                    path=ex.path,
                    query=dict(parse_qsl(ex.query, keep_blank_values=True)),
                    status=ex.status or 0,
                    bytes_written=ex.response_bytes,
                    uri=uri,
                    user_agent=agent,
                )
            )
        return out

    def mark(self) -> LogMark:
        return LogMark(len(self.access_log()))

    def requests_since(self, mark: LogMark) -> list[AccessEntry]:
        return self.access_log()[mark.index :]

    def stop(self) -> None:
        """Stop the proxy and the process; safe to call twice."""
        self.proxy.stop()
        stop_process(self.process, self._files)

    def __enter__(self) -> OlaregRegistry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_olareg(
    tmp_path: Path, *, referrers_api: bool = True, startup_timeout: float = 15.0
) -> OlaregRegistry:
    """Start olareg in a fresh directory under ``tmp_path`` and wait until ``/v2/`` answers."""
    go_binary("olareg")  # built at its pinned version, or a line saying how
    tmp_path.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="olareg-", dir=tmp_path))
    for _attempt in range(3):
        port = free_port()
        started = _launch(workdir, port, referrers_api, startup_timeout)
        if started is not None:
            return started
    raise RuntimeError("could not find a free port for olareg after 3 attempts")


def _launch(workdir: Path, port: int, referrers_api: bool, timeout: float) -> OlaregRegistry | None:
    storage = workdir / "storage"
    log_path = workdir / "olareg.log"
    log = log_path.open("wb")
    args = [str(go_binary("olareg")), "serve", "--addr", "127.0.0.1", "--port", str(port)]
    args += ["--dir", str(storage), "--store-type", "dir", "--gc-frequency=-1s", "--api-delete"]
    args += [f"--api-referrer={'true' if referrers_api else 'false'}", "-v", "info"]
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=workdir, preexec_fn=_die_with_parent
    )
    direct = f"http://127.0.0.1:{port}"
    if not _wait_until_up(process, direct, timeout):
        process.kill()
        process.wait(timeout=5)
        log.close()
        text = log_path.read_text(errors="replace")
        if "address already in use" in text:
            return None
        raise RuntimeError(f"olareg did not answer /v2/ within {timeout}s; its log:\n{text}")
    proxy = Proxy(direct, name="olareg-proxy").start()
    return OlaregRegistry(direct, storage, log_path, process, proxy, _files=[log])


def _wait_until_up(process: subprocess.Popen[bytes], url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    headers = {"User-Agent": f"{HARNESS_USER_AGENT} readiness"}
    with httpx.Client(base_url=url, headers=headers, timeout=1, trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            with contextlib.suppress(httpx.TransportError):
                if client.get("/v2/").status_code == 200:
                    return True
            time.sleep(0.01)
    return False
