"""A fault-injecting HTTP proxy for the vendor stand-ins: it sits between the bot and a stand-in and fails a share
of the calls the way real vendors do (429 with Retry-After, 500, a hung response past the client's timeout, a
connection reset, an answer lost after the call was applied), chosen by a seeded RNG.

    slack = SlackStandIn()
    proxy = FaultyProxy(slack.url, FaultPlan(rate=0.3, seed=7))
    ... point the bot at f"{proxy.url}/api/" ...
    slack.calls("chat.postMessage")  # only the calls that reached the stand-in (passed, or applied then lost)

The stand-in behind it is unchanged, so what it recorded is exactly what the vendor did; `proxy.decisions`
says what the proxy did to each call.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

PASS = "pass"
RATE_LIMITED = "429"
SERVER_ERROR = "500"
HANG = "hang"  # no answer until after the client's timeout; the call was not applied
RESET = "reset"  # the connection is reset before the call reaches the vendor
LOST_ANSWER = "lost_answer"  # the vendor applied the call, then the connection was reset before the answer
DOOMED = "doomed"  # a request the plan always fails (500), to drive a delivery past its last retry

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "host", "proxy-connection", "upgrade"})


@dataclass
class FaultPlan:
    """Which calls fail and how. `rate` of calls fail, the kind picked from `kinds` (weights by repetition).

    `hang_budget` caps hung calls (each costs the bot a whole client timeout), `doomed` picks requests that
    always fail, `spare` picks requests never failed (e.g. Slack's auth.test at start-up)."""

    rate: float = 0.3
    seed: int = 1
    kinds: tuple[str, ...] = (RATE_LIMITED, SERVER_ERROR, HANG, RESET)
    hang_seconds: float = 16.0
    hang_budget: int = 2
    retry_after: int = 1
    doomed: Callable[[str, bytes], bool] = field(default=lambda path, body: False)
    spare: Callable[[str, bytes], bool] = field(default=lambda path, body: False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def decide(self, path: str, body: bytes) -> str:
        if self.doomed(path, body):
            return DOOMED
        if self.spare(path, body):
            return PASS
        with self._lock:
            if self._rng.random() >= self.rate:
                return PASS
            kinds = [k for k in self.kinds if k != HANG or self.hang_budget > 0]
            kind = self._rng.choice(kinds)
            if kind == HANG:
                self.hang_budget -= 1
            return kind


@dataclass(frozen=True)
class Decision:
    path: str
    kind: str
    status: int | None  # the status the vendor answered, when the call reached it


class FaultyProxy:
    def __init__(self, upstream: str, plan: FaultPlan) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.plan = plan
        self.decisions: list[Decision] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                kind = proxy.plan.decide(self.path, body)
                status = None
                if kind in (PASS, LOST_ANSWER):
                    status, headers, payload = proxy._forward(self.command, self.path, dict(self.headers), body)
                proxy._record(Decision(self.path, kind, status))
                if kind == PASS:
                    assert status is not None
                    self._answer(status, headers, payload)
                elif kind == RATE_LIMITED:
                    headers = {"Content-Type": "application/json", "Retry-After": str(proxy.plan.retry_after)}
                    self._answer(429, headers, b'{"ok": false, "error": "ratelimited", "code": 20429}')
                elif kind in (SERVER_ERROR, DOOMED):
                    self._answer(500, {"Content-Type": "application/json"},
                                 b'{"ok": false, "error": "internal_error", "code": 20500, "message": "error"}')
                elif kind == HANG:
                    proxy._closing.wait(proxy.plan.hang_seconds)
                    self._reset()
                else:  # RESET, LOST_ANSWER
                    self._reset()

            do_GET = do_POST

            def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _reset(self) -> None:
                # SO_LINGER 0: close() sends a TCP RST, as a dropped vendor connection looks to the client.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a reset connection is the point, not a problem

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="faulty-proxy", daemon=True)
        self._thread.start()

    def _forward(self, method: str, path: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(*self._upstream, timeout=30)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def _record(self, decision: Decision) -> None:
        with self._lock:
            self.decisions.append(decision)

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(d.kind for d in self.decisions)

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
