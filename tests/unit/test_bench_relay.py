"""The bench's delay line (bench/relay.py): late by the delay each way, bytes intact and in order.

Light on purpose (no registry, no tool): it keeps the WAN scenario's one moving part tested
in every test run, while the benchmark itself runs only on demand.
"""

from __future__ import annotations

import os
import time
from http.server import BaseHTTPRequestHandler

import httpx

from bench.relay import DelayLine
from testkit.http_thread import LoopbackHTTPServer

DELAY = 0.030


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_each_round_trip_takes_twice_the_delay_and_bytes_arrive_intact() -> None:
    server = LoopbackHTTPServer(Echo, "echo")
    line = DelayLine(DELAY)
    try:
        relay = line.add("src", f"127.0.0.1:{server.port}")
        body = os.urandom(3 * 1024 * 1024)  # many chunks, so order matters
        with httpx.Client(base_url=f"http://{relay.host}", trust_env=False) as client:
            walls = []
            for _ in range(3):
                start = time.perf_counter()
                resp = client.post("/v2/x/blobs/uploads/", content=body)
                walls.append(time.perf_counter() - start)
                assert resp.content == body
        assert min(walls) >= 2 * DELAY
        assert relay.connections == 1  # the connection was reused through the relay
        assert [(r.relay, r.method, r.path) for r in relay.requests] == [
            ("src", "POST", "/v2/x/blobs/uploads/")
        ] * 3
        assert relay.bytes_up > 3 * len(body) and relay.bytes_down > 3 * len(body)
    finally:
        line.close()
        server.stop()
